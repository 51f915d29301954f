import { describe, expect, test } from 'vitest';
import { bucketKey, bucketLabel, modelGroupsProblem } from '../../src/policy/buckets.ts';
import { RateLimiter } from '../../src/policy/limiter.ts';

const scope = { upstream: 'https://api.openai.com/v1', credential: 'ab12cd34ef56ab78' };

describe('bucketLabel and bucketKey', () => {
  test('every model is its own bucket unless a pool lists it; the pool name is always in its pool', () => {
    const groups = { 'gpt-4o': ['gpt-4o-2024-08-06', 'gpt-4o-2024-11-20'] };
    expect(bucketLabel('gpt-4o-2024-08-06', groups)).toBe('gpt-4o');
    expect(bucketLabel('gpt-4o', groups)).toBe('gpt-4o');
    expect(bucketLabel('gpt-4o-mini', groups)).toBe('gpt-4o-mini');
    expect(bucketLabel(undefined, groups)).toBe('none');
    expect(bucketKey({ ...scope, model: 'gpt-4o-2024-11-20' }, groups)).toBe(
      bucketKey({ ...scope, model: 'gpt-4o' }, groups),
    );
  });

  test('upstream, credential, organization, project and model each tell buckets apart', () => {
    const base = { ...scope, organization: 'org-a', project: 'proj-a', model: 'gpt-4o' };
    const keys = new Set([
      bucketKey(base, undefined),
      bucketKey({ ...base, upstream: 'http://127.0.0.1:1/v1' }, undefined),
      bucketKey({ ...base, credential: 'ffffffffffffffff' }, undefined),
      bucketKey({ ...base, organization: 'org-b' }, undefined),
      bucketKey({ ...base, project: 'proj-b' }, undefined),
      bucketKey({ ...base, model: 'gpt-4o-mini' }, undefined),
    ]);
    expect(keys.size).toBe(6);
    // null (the SDK's "not set") and undefined are the same scope.
    expect(bucketKey({ ...scope, organization: null, model: 'm' }, undefined)).toBe(
      bucketKey({ ...scope, model: 'm' }, undefined),
    );
  });

  test('modelGroups problems name the pool and the model', () => {
    expect(modelGroupsProblem({ a: ['b'], c: ['d', 'e'] })).toBeUndefined();
    expect(modelGroupsProblem(['a'])?.path).toBe('');
    expect(modelGroupsProblem({ a: 'b' })).toEqual({
      path: '.a',
      message: 'must be an array of model names',
    });
    expect(modelGroupsProblem({ a: ['b', ''] })?.path).toBe('.a[1]');
    expect(modelGroupsProblem({ a: ['x'], b: ['x'] })?.message).toMatch(/"x", which is already in pool "a"/);
    expect(modelGroupsProblem({ a: ['b'], b: [] })?.message).toMatch(/"b", which is already in pool "a"/);
  });
});

test("per-model buckets over a fake clock: one model's throttle leaves another's schedule untouched", () => {
  const slow = new RateLimiter();
  const fast = new RateLimiter();
  let now = 0;
  const headers = (limit: number, remaining: number) => ({
    limitRequests: limit,
    remainingRequests: remaining,
  });
  for (const [limiter, limit] of [
    [slow, 60],
    [fast, 6000],
  ] as const) {
    const r = limiter.reserve(now, 10);
    expect(r.ok && r.waitMs).toBe(0);
    limiter.observe(now, headers(limit, limit - 1), r.ok ? r.slot : undefined);
  }
  now += 10;
  slow.onThrottle(now, 20_000, undefined, { headroom: headers(60, 0) });
  const held = slow.reserve(now, 10);
  expect(held.ok && held.waitMs).toBeGreaterThanOrEqual(20_000);
  for (let i = 0; i < 50; i++) {
    const r = fast.reserve(now, 10);
    expect(r.ok && r.waitMs).toBe(0);
  }
});
