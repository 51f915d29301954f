import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { resetHeaderMs } from '../../src/policy/go-duration.ts';
import { parseRateLimitHeaders } from '../../src/policy/ratelimit-headers.ts';
import { parseRetryAfter } from '../../src/policy/retry-after.ts';

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);

describe('Go durations', () => {
  test.each([
    ['1s', 1000],
    ['6m0s', 360_000],
    ['20ms', 20],
    ['1m30.5s', 90_500],
    ['1h2m3s', 3_723_000],
    ['0', 0],
    ['0s', 0],
    ['.5s', 500],
    ['250us', 0.25],
  ])('%s = %d ms', (text, ms) => expect(resetHeaderMs(text)).toBeCloseTo(ms, 6));

  test.each(['', ' ', '-1s', '1', 's', '1x', '1s2', 'abc', '1e3s', '999999h', 'NaN'])(
    '%j is rejected',
    (text) => expect(resetHeaderMs(text)).toBeUndefined(),
  );

  test('total: any string yields undefined or a finite wait of at most a day', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const v = resetHeaderMs(s);
        return v === undefined || (Number.isFinite(v) && v >= 0 && v <= 86_400_000);
      }),
    );
  });

  test('round-trips minutes and seconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }), (m, s) => {
        return resetHeaderMs(`${m}m${s}s`) === (m * 60 + s) * 1000;
      }),
    );
  });
});

describe('Retry-After', () => {
  test('retry-after-ms wins over retry-after', () => {
    expect(parseRetryAfter({ 'retry-after-ms': '1500', 'retry-after': '9' }, NOW)).toEqual({
      delayMs: 1500,
      source: 'retry-after-ms',
    });
  });
  test('seconds', () =>
    expect(parseRetryAfter({ 'retry-after': '2' }, NOW)).toEqual({ delayMs: 2000, source: 'retry-after' }));
  test('HTTP date in the future and in the past', () => {
    expect(parseRetryAfter({ 'retry-after': new Date(NOW + 4000).toUTCString() }, NOW)).toEqual({
      delayMs: 4000,
      source: 'retry-after',
    });
    expect(parseRetryAfter({ 'retry-after': new Date(NOW - 4000).toUTCString() }, NOW)?.delayMs).toBe(0);
  });
  test.each(['', 'soon', '-3', '1e9', 'Infinity', '2026-11-26'])('garbage %j falls back', (v) => {
    expect(parseRetryAfter({ 'retry-after': v }, NOW)).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after-ms': v }, NOW)).toBeUndefined();
  });
  test('total: never throws, always a finite whole-number-safe wait', () => {
    fc.assert(
      fc.property(
        fc.option(fc.string()),
        fc.option(fc.string()),
        fc.integer({ min: 0, max: 4e12 }),
        (ms, s, now) => {
          const headers: Record<string, string> = {};
          if (ms !== null) headers['retry-after-ms'] = ms;
          if (s !== null) headers['retry-after'] = s;
          const hint = parseRetryAfter(headers, now);
          return hint === undefined || (hint.delayMs >= 0 && hint.delayMs <= Number.MAX_SAFE_INTEGER);
        },
      ),
    );
  });
});

describe('rate-limit headers', () => {
  test('all six parsed', () => {
    expect(
      parseRateLimitHeaders({
        'x-ratelimit-limit-requests': '500',
        'x-ratelimit-limit-tokens': '200000',
        'x-ratelimit-remaining-requests': '499',
        'x-ratelimit-remaining-tokens': '199000',
        'x-ratelimit-reset-requests': '120ms',
        'x-ratelimit-reset-tokens': '1m30.5s',
      }),
    ).toEqual({
      limitRequests: 500,
      limitTokens: 200_000,
      remainingRequests: 499,
      remainingTokens: 199_000,
      resetRequestsMs: 120,
      resetTokensMs: 90_500,
    });
  });
  test('bad values are left out', () => {
    expect(
      parseRateLimitHeaders({ 'x-ratelimit-remaining-requests': '-1', 'x-ratelimit-reset-tokens': 'later' }),
    ).toEqual({});
  });
});
