/**
 * A cut that believes the headers: which 429s slow the bucket, how hard, and
 * how soon it recovers. Every run is over fake time (discrete events).
 */
import { describe, expect, test } from 'vitest';
import { classify } from '../../src/policy/classify.ts';
import { RateLimiter, type Slot } from '../../src/policy/limiter.ts';
import type { RateLimitHeadroom } from '../../src/policy/ratelimit-headers.ts';
import { judgeThrottle } from '../../src/policy/throttle.ts';
import { mulberry32 } from '../../src/simulator/random.ts';

const room = (limit: number, remaining: number): RateLimitHeadroom => ({
  limitRequests: limit,
  remainingRequests: remaining,
});
const lots = { throttles: 1, answers: 100 };

describe('judgeThrottle: which 429 is a storm', () => {
  test('a 429 whose own headers show room is isolated; one that shows an empty bucket is a storm', () => {
    expect(judgeThrottle({ own: room(100_000, 99_000), ...lots })).toBe('isolated');
    expect(judgeThrottle({ own: room(100_000, 0), ...lots })).toBe('storm');
    // The emptier bucket decides: requests to spare, tokens gone.
    expect(
      judgeThrottle({ own: { ...room(1000, 900), limitTokens: 10_000, remainingTokens: 50 }, ...lots }),
    ).toBe('storm');
  });

  test('without its own headers, recent ones decide while they are fresh', () => {
    expect(judgeThrottle({ recentRoom: 0.99, recentAgeMs: 500, ...lots })).toBe('isolated');
    expect(judgeThrottle({ recentRoom: 0.01, recentAgeMs: 500, ...lots })).toBe('storm');
    // Stale headers say nothing: a lone 429 among many answers is isolated.
    expect(judgeThrottle({ recentRoom: 0.01, recentAgeMs: 5000, ...lots })).toBe('isolated');
  });

  test('with no headers at all, only a run of 429s that is a real share of the answers is a storm', () => {
    expect(judgeThrottle({ throttles: 1, answers: 1 })).toBe('isolated');
    expect(judgeThrottle({ throttles: 2, answers: 100 })).toBe('isolated');
    expect(judgeThrottle({ throttles: 2, answers: 10 })).toBe('storm');
  });

  test('slow_down is its own kind, whatever the headers say', () => {
    expect(judgeThrottle({ code: 'slow_down', own: room(100, 99), ...lots })).toBe('slow_down');
  });
});

describe('classify: errors that are not rate limits', () => {
  test('a flex-tier 429 "Resource Unavailable" is capacity, retryable, not rate_limited', () => {
    for (const failure of [
      { status: 429, code: 'resource_unavailable', message: 'Resource unavailable' },
      { status: 429, message: 'Resource Unavailable: flex capacity is exhausted, try again later.' },
    ])
      expect(classify(failure)).toMatchObject({ category: 'capacity_unavailable', retryable: true });
    expect(
      classify({ status: 429, code: 'resource_unavailable', headers: { 'x-should-retry': 'false' } }),
    ).toMatchObject({ category: 'capacity_unavailable', retryable: false });
  });

  test('slow_down is a rate limit that keeps its code (the limiter cuts harder on it)', () => {
    expect(classify({ status: 429, code: 'slow_down', type: 'rate_limit_error' })).toMatchObject({
      category: 'rate_limited',
      retryable: true,
      code: 'slow_down',
    });
    // The same, as an error event inside a stream (no status).
    expect(classify({ code: 'slow_down' })).toMatchObject({ category: 'rate_limited', retryable: true });
  });

  test('503 server_is_overloaded is a server error, retried, never a rate limit', () => {
    expect(
      classify({ status: 503, code: 'server_is_overloaded', type: 'service_unavailable_error' }),
    ).toMatchObject({ category: 'server_error', retryable: true });
    expect(classify({ code: 'server_is_overloaded' })).toMatchObject({ category: 'server_error' });
  });
});

/** A steady caller of a 100-per-second limit (6000 RPM) over fake time. */
function steadyCaller(limiter: RateLimiter) {
  let now = 0;
  const send = () => {
    let r = limiter.reserve(now, 1);
    if (!r.ok) throw new Error('refused');
    const ticket = r.slot;
    while (r.ok && r.waitMs > 0) {
      now += r.sleepMs;
      r = limiter.confirm(now, ticket);
    }
    return ticket;
  };
  return {
    get now() {
      return now;
    },
    tick(ms: number) {
      now += ms;
    },
    send,
    /** One request answered at once with a success carrying `headroom`. */
    succeed(headroom: RateLimitHeadroom) {
      const ticket = send();
      limiter.observe(now, headroom, ticket);
      limiter.onSuccess(now);
    },
  };
}

describe('RateLimiter: the cut', () => {
  test('an isolated 429 with room in its headers neither cuts the rate nor pauses anyone', () => {
    const limiter = new RateLimiter({ initialRpm: 6000 });
    const c = steadyCaller(limiter);
    for (let i = 0; i < 100; i++) c.succeed(room(6000, 5900));
    const t = c.send();
    expect(limiter.onThrottle(c.now, 1000, t, { headroom: room(6000, 5900) })).toBe('isolated');
    expect(limiter.snapshot(c.now)).toMatchObject({ ratePerSec: 100 });
    expect(limiter.snapshot(c.now).pausedUntil).toBeUndefined();
  });

  test('recovery after a 3 s storm takes seconds, not tens of seconds', () => {
    const limiter = new RateLimiter({ initialRpm: 6000 });
    const c = steadyCaller(limiter);
    for (let i = 0; i < 200; i++) c.succeed(room(6000, 5000));
    // Every answer for 3 s a 429 of an empty bucket, 100 ms retry-after.
    const stormEnd = c.now + 3000;
    while (c.now < stormEnd) {
      const t = c.send();
      c.tick(5);
      limiter.observe(c.now, room(6000, 0), t);
      limiter.onThrottle(c.now, 100, t, { headroom: room(6000, 0) });
    }
    const cutTo = limiter.snapshot(c.now).ratePerSec;
    expect(cutTo).toBeLessThan(60);
    const ended = c.now;
    // Then the bucket has room again: how long until the pace is back to 95% of the limit?
    while (limiter.snapshot(c.now).ratePerSec < 95 && c.now < ended + 60_000) c.succeed(room(6000, 5000));
    const recoveryMs = c.now - ended;
    if (process.env.RETRYSCOPE_LIMITER_FIGURES) console.log(JSON.stringify({ cutTo, recoveryMs }));
    // The storm itself ended on time: no stall of many seconds inside it either.
    expect(ended - stormEnd).toBeLessThan(1000);
    expect(recoveryMs).toBeLessThanOrEqual(5000);
  });

  test('slow_down cuts harder than a storm and climbs back slower', () => {
    const cutBy = (cause: { code?: string; headroom?: RateLimitHeadroom }) => {
      const limiter = new RateLimiter({ initialRpm: 6000 });
      const c = steadyCaller(limiter);
      for (let i = 0; i < 200; i++) c.succeed(room(6000, 5000));
      limiter.onThrottle(c.now, undefined, c.send(), cause);
      const cut = limiter.snapshot(c.now).ratePerSec;
      const from = c.now;
      while (c.now < from + 5000) c.succeed(room(6000, 5000));
      return { cut, fiveSecondsOn: limiter.snapshot(c.now).ratePerSec };
    };
    const storm = cutBy({ headroom: room(6000, 0) });
    const slow = cutBy({ code: 'slow_down', headroom: room(6000, 5000) });
    expect(slow.cut).toBeLessThan(storm.cut);
    expect(storm.fiveSecondsOn).toBe(100);
    expect(slow.fiveSecondsOn).toBeLessThan(80);
  });
});

/**
 * The collapse: 50 callers, every answer advertising 99 000 of
 * 100 000 requests left, a share of answers a 429 anyway. With the cut that
 * believes the headers, the limiter keeps ≥ 0.9 of the throughput of no limiter.
 */
function collapseRun(share: number, limited: boolean): number {
  const random = mulberry32(7);
  const limiter = limited ? new RateLimiter() : undefined;
  const latencyMs = 100;
  const durationMs = 20_000;
  type Event = { at: number; attempt: number; ticket?: Slot; phase: 'start' | 'confirm' | 'answer' };
  const queue: Event[] = [];
  const push = (e: Event) => {
    let i = queue.length;
    while (i > 0 && queue[i - 1]!.at > e.at) i--;
    queue.splice(i, 0, e);
  };
  for (let c = 0; c < 50; c++) push({ at: 0, attempt: 1, phase: 'start' });
  let successes = 0;
  const headroom = room(100_000, 99_000);
  while (queue.length) {
    const e = queue.shift()!;
    if (e.at > durationMs) break;
    if (e.phase === 'start' || e.phase === 'confirm') {
      if (!limiter) {
        push({ ...e, at: e.at + latencyMs, phase: 'answer' });
        continue;
      }
      const r = e.phase === 'start' ? limiter.reserve(e.at, 1) : limiter.confirm(e.at, e.ticket!);
      if (!r.ok) throw new Error('refused');
      // A caller told to wait sleeps, then confirms; told 0, it sends.
      if (r.waitMs > 0) push({ ...e, at: e.at + r.sleepMs, phase: 'confirm', ticket: r.slot });
      else push({ ...e, at: e.at + latencyMs, phase: 'answer', ticket: r.slot });
      continue;
    }
    const throttled = random() < share;
    limiter?.observe(e.at, headroom, e.ticket);
    if (throttled) {
      limiter?.onThrottle(e.at, undefined, e.ticket, { headroom });
      // Exponential backoff from 500 ms, as the retry policy sleeps it.
      const delay = Math.min(8000, 500 * 2 ** (e.attempt - 1)) * (0.5 + random() / 2);
      push({ at: e.at + delay, attempt: e.attempt + 1, phase: 'start' });
    } else {
      successes++;
      limiter?.onSuccess(e.at);
      push({ at: e.at, attempt: 1, phase: 'start' });
    }
  }
  return successes / (durationMs / 1000);
}

test.each([0.02, 0.15])(
  'occasional 429s (%s of answers) with room in the headers: ≥ 0.9 of the throughput without the limiter',
  (share) => {
    const plain = collapseRun(share, false);
    const limited = collapseRun(share, true);
    if (process.env.RETRYSCOPE_LIMITER_FIGURES) console.log(JSON.stringify({ share, plain, limited }));
    expect(limited / plain).toBeGreaterThanOrEqual(0.9);
  },
);
