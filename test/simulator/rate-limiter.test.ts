import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  admit,
  capacity,
  emptyBuckets,
  type KeyBuckets,
  scaleLimits,
  snapshot,
} from '../../src/simulator/rate-limiter.ts';

const T0 = 1_000_000;
const strict = { countRejected: false };
const counting = { countRejected: true };

/** Admits `n` requests of `tokens` at time `now`, expecting every one to pass. */
function fill(
  buckets: KeyBuckets,
  limits: { rpm: number; tpm: number },
  n: number,
  tokens: number,
  now: number,
) {
  let state = buckets;
  for (let i = 0; i < n; i++) {
    const result = admit(state, limits, tokens, now, strict);
    expect(result.allowed).toBe(true);
    state = result.buckets;
  }
  return state;
}

describe('admit', () => {
  it('takes one request and the estimated tokens from fresh buckets', () => {
    const result = admit(emptyBuckets(T0), { rpm: 60, tpm: 1000 }, 40, T0, strict);
    expect(result.allowed).toBe(true);
    expect(result.snapshot).toMatchObject({
      limitRequests: 60,
      limitTokens: 1000,
      remainingRequests: 59,
      remainingTokens: 960,
    });
    // 1 request drains at 1/s; 40 tokens at 1000/min.
    expect(result.snapshot.resetRequestsMs).toBeCloseTo(1000, 6);
    expect(result.snapshot.resetTokensMs).toBeCloseTo(2400, 6);
  });

  it('rejects on RPM and says exactly when a request fits again', () => {
    const limits = { rpm: 3, tpm: 1_000_000 };
    const full = fill(emptyBuckets(T0), limits, 3, 1, T0);
    const rejected = admit(full, limits, 1, T0, strict);
    expect(rejected).toMatchObject({ allowed: false, reason: 'requests', limit: 3, used: 3, requested: 1 });
    // 3 rpm drains one request every 20 s.
    expect(rejected.allowed === false && 'retryAfterMs' in rejected && rejected.retryAfterMs).toBe(20_000);

    expect(admit(full, limits, 1, T0 + 19_999, strict).allowed).toBe(false);
    expect(admit(full, limits, 1, T0 + 20_000, strict).allowed).toBe(true);
  });

  it('rejects on TPM with the tokens used and requested', () => {
    const limits = { rpm: 1000, tpm: 100 };
    const used = fill(emptyBuckets(T0), limits, 1, 60, T0);
    const rejected = admit(used, limits, 60, T0, strict);
    expect(rejected).toMatchObject({ allowed: false, reason: 'tokens', limit: 100, used: 60, requested: 60 });
    // 20 tokens too many, at 100 per minute: 12 s.
    expect('retryAfterMs' in rejected && rejected.retryAfterMs).toBe(12_000);
    expect(admit(used, limits, 60, T0 + 12_000, strict).allowed).toBe(true);
  });

  it('names the bucket that binds longest and waits for both', () => {
    const limits = { rpm: 2, tpm: 100 };
    const used = fill(emptyBuckets(T0), limits, 2, 10, T0);
    // Requests need 30 s; 95 more tokens need (115 - 100) * 0.6 s = 9 s.
    const rejected = admit(used, limits, 95, T0, strict);
    expect(rejected).toMatchObject({ allowed: false, reason: 'requests', retryAfterMs: 30_000 });
  });

  it('refills continuously, not per window', () => {
    const limits = { rpm: 60, tpm: 6000 };
    const used = fill(emptyBuckets(T0), limits, 60, 100, T0);
    expect(snapshot(used, limits, T0)).toMatchObject({ remainingRequests: 0, remainingTokens: 0 });
    expect(snapshot(used, limits, T0 + 10_000)).toMatchObject({
      remainingRequests: 10,
      remainingTokens: 1000,
    });
    expect(snapshot(used, limits, T0 + 30_500)).toMatchObject({
      remainingRequests: 30,
      remainingTokens: 3050,
    });
    expect(snapshot(used, limits, T0 + 30_500).resetRequestsMs).toBeCloseTo(29_500, 6);
    expect(snapshot(used, limits, T0 + 120_000)).toMatchObject({
      remainingRequests: 60,
      resetRequestsMs: 0,
      resetTokensMs: 0,
    });
  });

  it('with countRejected, a rejected request still uses one request', () => {
    const limits = { rpm: 3, tpm: 1_000_000 };
    const full = fill(emptyBuckets(T0), limits, 3, 1, T0);
    // The rejection itself pushes the next free slot out by another 20 s,
    // and the advertised wait includes it.
    const first = admit(full, limits, 1, T0, counting);
    expect(first).toMatchObject({ allowed: false, reason: 'requests', used: 3, retryAfterMs: 40_000 });
    const second = admit(first.buckets, limits, 1, T0, counting);
    expect(second).toMatchObject({ allowed: false, reason: 'requests', used: 4, retryAfterMs: 60_000 });
    expect(admit(second.buckets, limits, 1, T0 + 59_999, strict).allowed).toBe(false);
    expect(admit(second.buckets, limits, 1, T0 + 60_000, strict).allowed).toBe(true);
  });

  it('without countRejected, rejections cost nothing', () => {
    const limits = { rpm: 3, tpm: 1_000_000 };
    let state = fill(emptyBuckets(T0), limits, 3, 1, T0);
    for (let i = 0; i < 10; i++) state = admit(state, limits, 1, T0, strict).buckets;
    expect(admit(state, limits, 1, T0, strict)).toMatchObject({ retryAfterMs: 20_000 });
  });

  it('caps the penalty of a hammering client at one extra minute', () => {
    const limits = { rpm: 3, tpm: 1_000_000 };
    let state = fill(emptyBuckets(T0), limits, 3, 1, T0);
    for (let i = 0; i < 100; i++) state = admit(state, limits, 1, T0, counting).buckets;
    // used is capped at 2 × 3 = 6; a slot frees after (6 + 1 − 3) × 20 s.
    expect(admit(state, limits, 1, T0, strict)).toMatchObject({ retryAfterMs: 80_000 });
  });

  it('refuses a request larger than the whole TPM limit, with no retry-after', () => {
    const limits = { rpm: 10, tpm: 100 };
    const result = admit(emptyBuckets(T0), limits, 101, T0, counting);
    expect(result).toMatchObject({ allowed: false, reason: 'too_large', limit: 100, requested: 101 });
    expect('retryAfterMs' in result).toBe(false);
    // It can never succeed, but with countRejected it still used a request.
    expect(result.snapshot.remainingRequests).toBe(9);
    expect(admit(emptyBuckets(T0), limits, 101, T0, strict).snapshot.remainingRequests).toBe(10);
    // Exactly the limit is fine.
    expect(admit(emptyBuckets(T0), limits, 100, T0, strict).allowed).toBe(true);
  });

  it('keeps usage when the limits drop, up to one extra bucketful, so a storm bites at once', () => {
    const base = { rpm: 100, tpm: 1_000_000 };
    const used = fill(emptyBuckets(T0), base, 50, 1, T0);
    const storm = scaleLimits(base, 0.15);
    expect(storm).toEqual({ rpm: 15, tpm: 150_000 });
    const rejected = admit(used, storm, 1, T0, strict);
    // 50 used is more than twice the new limit: the debt is capped at 30,
    // so 16 requests over, draining at 15 per minute: 64 s.
    expect(rejected).toMatchObject({ allowed: false, reason: 'requests', used: 30, retryAfterMs: 64_000 });
    expect(snapshot(used, storm, T0)).toMatchObject({ remainingRequests: 0, resetRequestsMs: 120_000 });
    // Under the old limits nothing was forgotten.
    expect(snapshot(used, base, T0).remainingRequests).toBe(50);
  });

  it('never mutates the buckets it is given', () => {
    const buckets = emptyBuckets(T0);
    const copy = structuredClone(buckets);
    admit(buckets, { rpm: 1, tpm: 1 }, 1, T0 + 5, counting);
    admit(buckets, { rpm: 1, tpm: 1 }, 5, T0 + 5, counting);
    expect(buckets).toEqual(copy);
  });

  it('waiting the advertised retry-after is always enough (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 2_000 })), {
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.boolean(),
        (rpm, tpm, traffic, nextTokens, countRejected) => {
          const limits = { rpm, tpm };
          const options = { countRejected };
          let state = emptyBuckets(T0);
          let now = T0;
          for (const [gap, tokens] of traffic) {
            now += gap;
            state = admit(state, limits, tokens, now, options).buckets;
          }
          const result = admit(state, limits, nextTokens, now, options);
          if (result.allowed || result.reason === 'too_large') return;
          const later = admit(result.buckets, limits, nextTokens, now + result.retryAfterMs, options);
          expect(later.allowed).toBe(true);
        },
      ),
    );
  });
});

describe('burstMs: a shorter enforcement window', () => {
  it('caps what can be spent at once, refilling at the per-minute rate', () => {
    // 600 rpm in 1 s bursts: 10 at once, then one more every 100 ms.
    const limits = { rpm: 600, tpm: 1_000_000, burstMs: 1000 };
    expect(capacity(600, 1000)).toBe(10);
    const full = fill(emptyBuckets(T0), limits, 10, 1, T0);
    expect(snapshot(full, limits, T0)).toMatchObject({ limitRequests: 600, remainingRequests: 0 });
    expect(admit(full, limits, 1, T0, strict)).toMatchObject({
      allowed: false,
      reason: 'requests',
      retryAfterMs: 100,
    });
    expect(admit(full, limits, 1, T0 + 100, strict).allowed).toBe(true);
    expect(snapshot(full, limits, T0 + 500).remainingRequests).toBe(5);
  });

  it('lets a request bigger than a burst through once the bucket is empty', () => {
    // 6000 tpm in 1 s bursts holds 100 tokens; a 250-token request still fits an empty bucket.
    const limits = { rpm: 1000, tpm: 6000, burstMs: 1000 };
    const first = admit(emptyBuckets(T0), limits, 250, T0, strict);
    expect(first.allowed).toBe(true);
    // Then it waits for the bucket to drain fully; debt past one extra
    // bucketful (200 tokens) is forgotten, so 200 tokens at 100/s.
    expect(admit(first.buckets, limits, 250, T0, strict)).toMatchObject({
      reason: 'tokens',
      retryAfterMs: 2000,
    });
    // Only the whole per-minute limit is a hard ceiling.
    expect(admit(emptyBuckets(T0), limits, 6001, T0, strict)).toMatchObject({ reason: 'too_large' });
  });

  it('never shrinks a bucket below one request', () => {
    expect(capacity(3, 1000)).toBe(1);
    expect(capacity(600, 120_000)).toBe(600);
  });
});

describe('scaleLimits', () => {
  it('never scales a limit below 1', () => {
    expect(scaleLimits({ rpm: 3, tpm: 5 }, 0.01)).toEqual({ rpm: 1, tpm: 1 });
  });
});
