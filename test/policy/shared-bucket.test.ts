/**
 * The fleet's booking decision (the TypeScript twin of the Lua script; the
 * Redis tests check that the script answers the same), with time passed in.
 */
import { describe, expect, test } from 'vitest';
import {
  admitShared,
  emptySharedState,
  pauseShared,
  type SharedAdmit,
  type SharedState,
} from '../../src/policy/shared-bucket.ts';

// 1200 RPM: one request every 50 ms; a 1000 ms burst is 20 requests' worth.
const base: Omit<SharedAdmit, 'now'> = {
  tokens: 0,
  rpm: 1200,
  tpm: 0,
  burstMs: 1000,
  maxWaitMs: Number.POSITIVE_INFINITY,
};

/** Books `n` requests at `now`, one after another; returns each one's wait and the state after. */
function book(state: SharedState, now: number, n: number): { waits: number[]; state: SharedState } {
  const waits: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = admitShared(state, { ...base, now });
    if (!r.admission.ok) throw new Error(`refused: ${JSON.stringify(r.admission)}`);
    waits.push(r.admission.waitMs);
    state = r.state;
  }
  return { waits, state };
}

describe('a storm pause ends on an empty bucket', () => {
  test('the fleet leaves the pause one request at a time, at the rate, not as a burst', () => {
    // An idle fleet: a full burst of credit. A process sees a storm 429 at 10 s with retry-after 2 s.
    const paused = pauseShared(emptySharedState(), 12_000);
    const { waits } = book(paused, 10_000, 5);
    expect(waits).toEqual([2000, 2050, 2100, 2150, 2200]);
  });

  test('a burst is back once the bucket has refilled after the pause', () => {
    const paused = pauseShared(emptySharedState(), 12_000);
    const { waits } = book(paused, 13_000, 20);
    expect(waits.filter((w) => w === 0)).toHaveLength(20);
  });

  test('a pause already over when a booking comes leaves only what has refilled since', () => {
    // 500 ms after the pause: the one request its end brings, and ten more refilled since.
    const paused = pauseShared(emptySharedState(), 12_000);
    const { waits } = book(paused, 12_500, 12);
    expect(waits.slice(0, 11)).toEqual(Array(11).fill(0));
    expect(waits[11]).toBe(50);
  });
});
