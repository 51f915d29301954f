import { describe, expect, test } from 'vitest';
import { bodyForHop, hopStep } from '../../src/policy/hop-plan.ts';
import type { ValidationProblem } from '../../src/policy/validate.ts';

const problem: ValidationProblem = {
  param: 'messages',
  code: 'context_length_exceeded',
  message: 'too long',
};
const DEFAULT_ON = ['retries_exhausted', 'quota_exhausted'] as const;

describe('hopStep', () => {
  test('a hop with no problem is sent, primary or fallback', () => {
    expect(hopStep(0, undefined, DEFAULT_ON, 2)).toEqual({ kind: 'send' });
    expect(hopStep(2, undefined, DEFAULT_ON, 0)).toEqual({ kind: 'send' });
  });

  test('a fallback with a problem is skipped, whatever fallbackOn says', () => {
    expect(hopStep(1, problem, DEFAULT_ON, 1)).toEqual({ kind: 'skip', problem });
    expect(hopStep(1, problem, [], 0)).toEqual({ kind: 'skip', problem });
  });

  test("a refused primary is skipped only with 'invalid_request' in fallbackOn and a fallback left", () => {
    expect(hopStep(0, problem, DEFAULT_ON, 1)).toEqual({ kind: 'refuse', problem });
    expect(hopStep(0, problem, ['invalid_request'], 0)).toEqual({ kind: 'refuse', problem });
    expect(hopStep(0, problem, ['invalid_request'], 1)).toEqual({ kind: 'skip', problem });
  });
});

describe('bodyForHop', () => {
  test("a fallback's model replaces the caller's, on a copy; the primary's body is the caller's own", () => {
    const body = { model: 'a', messages: [] };
    expect(bodyForHop(body, 0, 'b')).toBe(body);
    const hop = bodyForHop(body, 1, 'b');
    expect(hop).toEqual({ model: 'b', messages: [] });
    expect(body.model).toBe('a');
    expect(bodyForHop(body, 1, undefined)).toBe(body);
    expect(bodyForHop('raw', 1, 'b')).toBe('raw');
  });
});
