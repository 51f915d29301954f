import { describe, expect, test } from 'vitest';
import { streamWait } from '../../src/policy/stream-timing.ts';

describe('streamWait', () => {
  test('before the first chunk the timeout counts from the attempt start', () => {
    expect(streamWait({ nowMs: 1_300, sinceMs: 1_000, phase: 'first_chunk', timeoutMs: 1_000 })).toEqual({
      waitMs: 700,
      cause: 'first_chunk',
    });
  });

  test('between chunks it counts afresh from the read', () => {
    expect(streamWait({ nowMs: 5_000, sinceMs: 5_000, phase: 'idle', timeoutMs: 1_000 })).toEqual({
      waitMs: 1_000,
      cause: 'idle',
    });
  });

  test('the deadline wins when it comes first, and a tie goes to the deadline', () => {
    expect(streamWait({ nowMs: 0, sinceMs: 0, phase: 'idle', timeoutMs: 1_000, deadlineAtMs: 400 })).toEqual({
      waitMs: 400,
      cause: 'deadline',
    });
    expect(
      streamWait({ nowMs: 0, sinceMs: 0, phase: 'first_chunk', timeoutMs: 400, deadlineAtMs: 400 }).cause,
    ).toBe('deadline');
  });

  test('a wait already over is 0, never negative', () => {
    expect(streamWait({ nowMs: 9_000, sinceMs: 0, phase: 'first_chunk', timeoutMs: 1_000 }).waitMs).toBe(0);
    expect(
      streamWait({ nowMs: 9_000, sinceMs: 9_000, phase: 'idle', timeoutMs: 1_000, deadlineAtMs: 100 }),
    ).toEqual({ waitMs: 0, cause: 'deadline' });
  });
});
