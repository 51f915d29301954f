/**
 * No cold-start burst: before a bucket has heard from the server, two
 * probes go and the rest wait for the first answer (never past their
 * deadline, never past the hold), then leave at the rate it taught.
 */
import { describe, expect, test } from 'vitest';
import { RateLimiter, type Reservation } from '../../src/policy/limiter.ts';

const MINUTE_MS = 60_000;
const ok = (r: Reservation) => {
  if (!r.ok) throw new Error(`refused: ${r.reason}`);
  return r;
};

/** Drives each ticket to its send time over a fake clock, as the adapter does (sleep, confirm). */
function sendTimes(limiter: RateLimiter, tickets: number[], from: number): number[] {
  return tickets.map((ticket) => {
    let now = from;
    let r = ok(limiter.confirm(now, ticket));
    while (r.waitMs > 0) {
      now += r.sleepMs;
      r = ok(limiter.confirm(now, ticket));
    }
    return now;
  });
}

/** A server's request bucket: `limit` per minute, refilling continuously, full at the start. */
function rejectedBy(limit: number, sends: number[]): number {
  let used = 0;
  let at = 0;
  let rejected = 0;
  for (const t of [...sends].sort((a, b) => a - b)) {
    used = Math.max(0, used - ((t - at) * limit) / MINUTE_MS);
    at = t;
    if (used + 1 > limit + 1e-9) rejected++;
    else used += 1;
  }
  return rejected;
}

describe('cold start', () => {
  test('40 callers at once against a 5-request bucket: two probes, the rest held, then paced: no 429', () => {
    const limiter = new RateLimiter();
    const all = Array.from({ length: 40 }, () => ok(limiter.reserve(0, 10)));
    expect(all.slice(0, 2).map((r) => r.waitMs)).toEqual([0, 0]);
    for (const r of all.slice(2)) expect(r.waitMs).toBe(10_000);
    expect(limiter.snapshot(0).queueDepth).toBe(38);
    // The first probe's headers, 300 ms later: 5 a minute, 4 left (the second probe is in flight).
    limiter.observe(300, { limitRequests: 5, remainingRequests: 4, resetRequestsMs: 12_000 }, all[0]!.ticket);
    const sends = [
      0,
      0,
      ...sendTimes(
        limiter,
        all.slice(2).map((r) => r.ticket),
        300,
      ),
    ];
    expect(rejectedBy(5, sends)).toBe(0);
    // And not held longer than needed: all 40 within the limit's own pace (35 more at 12 s each).
    expect(Math.max(...sends)).toBeLessThanOrEqual(300 + 37 * 12_000);
  });

  test('without the hold, the same crowd would draw 429s', () => {
    const limiter = new RateLimiter({ coldStartHoldMs: 0 });
    const sends = Array.from({ length: 40 }, () => ok(limiter.reserve(0, 10)).waitMs);
    expect(rejectedBy(5, sends)).toBeGreaterThan(30);
  });

  test('a held caller never waits past its deadline: at it, it goes', () => {
    const limiter = new RateLimiter();
    limiter.reserve(0, 1);
    limiter.reserve(0, 1);
    const held = ok(limiter.reserve(0, 1, 3000));
    expect(held.waitMs).toBe(3000);
    expect(sendTimes(limiter, [held.ticket], 0)).toEqual([3000]);
  });

  test('no answer within coldStartHoldMs: the held go at its end', () => {
    const limiter = new RateLimiter({ coldStartHoldMs: 4000 });
    limiter.reserve(0, 1);
    limiter.reserve(0, 1);
    const held = ok(limiter.reserve(1000, 1));
    // The hold counts from the bucket's first request.
    expect(held.waitMs).toBe(3000);
    expect(sendTimes(limiter, [held.ticket], 1000)).toEqual([4000]);
  });

  test('an answer without rate-limit headers releases everyone at once', () => {
    const limiter = new RateLimiter();
    const tickets = Array.from({ length: 10 }, () => ok(limiter.reserve(0, 1)).ticket);
    limiter.observe(500, {}, tickets[0]);
    expect(sendTimes(limiter, tickets.slice(2), 500)).toEqual(Array(8).fill(500));
    expect(limiter.snapshot(500).queueDepth).toBe(0);
  });

  test('initialRpm seeds the bucket: no probe, no hold, paced from the first call', () => {
    const limiter = new RateLimiter({ initialRpm: 600 });
    const waits = Array.from({ length: 12 }, () => ok(limiter.reserve(0, 1)).waitMs);
    expect(waits.slice(0, 10)).toEqual(Array(10).fill(0));
    expect(waits[10]).toBeGreaterThan(0);
  });

  test('a held caller that gives up leaves the queue; its ticket keeps working after the release', () => {
    const limiter = new RateLimiter();
    const probe = ok(limiter.reserve(0, 1));
    limiter.reserve(0, 1);
    const quitter = ok(limiter.reserve(0, 1));
    const stayer = ok(limiter.reserve(0, 1));
    limiter.release(100, quitter.ticket);
    expect(limiter.snapshot(100).queueDepth).toBe(1);
    limiter.observe(200, { limitRequests: 600, remainingRequests: 598 }, probe.ticket);
    expect(sendTimes(limiter, [stayer.ticket], 200)).toEqual([200]);
    // Feedback dated by the held ticket reaches the booking it became.
    limiter.observe(300, { limitRequests: 600, remainingRequests: 590 }, stayer.ticket);
    expect(limiter.snapshot(300)).toMatchObject({ queueDepth: 0, limitRpm: 600 });
  });

  test('coldStartProbes: 0 holds even the first caller until the hold ends', () => {
    const limiter = new RateLimiter({ coldStartProbes: 0, coldStartHoldMs: 2000 });
    expect(ok(limiter.reserve(0, 1)).waitMs).toBe(2000);
  });
});
