/**
 * No cold-start burst: before a bucket has heard from the server, two
 * probes go and the rest wait for the first answer (never past their
 * deadline, never past the hold), then leave at the rate it taught.
 */
import { describe, expect, test } from 'vitest';
import { RateLimiter, type Reservation, type Slot } from '../../src/policy/limiter.ts';

const MINUTE_MS = 60_000;
const ok = (r: Reservation) => {
  if (!r.ok) throw new Error(`refused: ${r.reason}`);
  return r;
};

/** Drives each ticket to its send time over a fake clock, as the adapter does (sleep, confirm). */
function sendTimes(limiter: RateLimiter, tickets: Slot[], from: number): number[] {
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

/**
 * The adapter's loop over a fake clock, for every ticket at once and in time order: each caller
 * sleeps the `sleepMs` it was told, then confirms; `answers` are fed in at their times. Returns
 * when each ticket was sent.
 */
function drive(
  limiter: RateLimiter,
  first: Reservation[],
  answers: { at: number; apply: () => void }[],
): number[] {
  const sends: number[] = [];
  let wakes = first.map((r, i) => ({ at: ok(r).waitMs === 0 ? 0 : ok(r).sleepMs, ticket: ok(r).slot, i }));
  for (const r of first) if (ok(r).waitMs === 0) sends.push(0);
  wakes = wakes.filter((w) => ok(first[w.i]!).waitMs > 0);
  const due = [...answers];
  while (wakes.length > 0) {
    wakes.sort((a, b) => a.at - b.at);
    const next = wakes.shift()!;
    while (due.length > 0 && due[0]!.at <= next.at) due.shift()!.apply();
    const r = ok(limiter.confirm(next.at, next.ticket));
    if (r.waitMs === 0) sends.push(next.at);
    else wakes.push({ ...next, at: next.at + r.sleepMs });
  }
  return sends;
}

/** A server bucket of `capacity` requests refilling at `perSec`, full at the start: how many it refuses. */
function refusedByBurst(capacity: number, perSec: number, sends: number[]): number {
  let used = 0;
  let at = 0;
  let refused = 0;
  for (const t of [...sends].sort((a, b) => a - b)) {
    used = Math.max(0, used - ((t - at) * perSec) / 1000);
    at = t;
    if (used + 1 > capacity + 1e-9) refused++;
    else used += 1;
  }
  return refused;
}

describe('cold start', () => {
  test('40 callers at once against a 5-request bucket: two probes, the rest held, then paced: no 429', () => {
    const limiter = new RateLimiter();
    const all = Array.from({ length: 40 }, () => ok(limiter.reserve(0, 10)));
    expect(all.slice(0, 2).map((r) => r.waitMs)).toEqual([0, 0]);
    for (const r of all.slice(2)) expect(r.waitMs).toBe(10_000);
    expect(limiter.snapshot(0).queueDepth).toBe(38);
    // The first probe's headers, 300 ms later: 5 a minute, 4 left (the second probe is in flight).
    limiter.observe(300, { limitRequests: 5, remainingRequests: 4, resetRequestsMs: 12_000 }, all[0]!.slot);
    const sends = [
      0,
      0,
      ...sendTimes(
        limiter,
        all.slice(2).map((r) => r.slot),
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
    expect(sendTimes(limiter, [held.slot], 0)).toEqual([3000]);
  });

  test('no answer within coldStartHoldMs: the held go at its end', () => {
    const limiter = new RateLimiter({ coldStartHoldMs: 4000 });
    limiter.reserve(0, 1);
    limiter.reserve(0, 1);
    const held = ok(limiter.reserve(1000, 1));
    // The hold counts from the bucket's first request.
    expect(held.waitMs).toBe(3000);
    expect(sendTimes(limiter, [held.slot], 1000)).toEqual([4000]);
  });

  test('an answer without rate-limit headers releases everyone at once', () => {
    const limiter = new RateLimiter();
    const tickets = Array.from({ length: 10 }, () => ok(limiter.reserve(0, 1)).slot);
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
    limiter.release(100, quitter.slot);
    expect(limiter.snapshot(100).queueDepth).toBe(1);
    limiter.observe(200, { limitRequests: 600, remainingRequests: 598 }, probe.slot);
    expect(sendTimes(limiter, [stayer.slot], 200)).toEqual([200]);
    // Feedback dated by the held ticket reaches the booking it became.
    limiter.observe(300, { limitRequests: 600, remainingRequests: 590 }, stayer.slot);
    expect(limiter.snapshot(300)).toMatchObject({ queueDepth: 0, limitRpm: 600 });
  });

  test('coldStartProbes: 0 holds even the first caller until the hold ends', () => {
    const limiter = new RateLimiter({ coldStartProbes: 0, coldStartHoldMs: 2000 });
    expect(ok(limiter.reserve(0, 1)).waitMs).toBe(2000);
  });
  test('held callers look again soon: a fast first answer releases them within a fraction of its latency, paced from when they wake', () => {
    // 300 RPM in a 1 s bucket (5 requests, 5 a second), 25 callers at once; the first answer at 300 ms.
    const limiter = new RateLimiter();
    const first = Array.from({ length: 25 }, () => limiter.reserve(0, 10));
    // Held callers are told to look again well before maxSleepMs (1000 ms).
    for (const r of first.slice(2)) expect(ok(r).sleepMs).toBeLessThanOrEqual(20);
    const sends = drive(limiter, first, [
      {
        at: 300,
        apply: () =>
          limiter.observe(
            300,
            { limitRequests: 300, remainingRequests: 3, resetRequestsMs: 400 },
            ok(first[0]!).slot,
          ),
      },
    ]);
    expect(sends).toHaveLength(25);
    const released = sends.slice(2).sort((a, b) => a - b);
    // Before, they slept a whole second and left together at its end; now within a quarter of the hold so far.
    expect(released[0]).toBeGreaterThanOrEqual(300);
    expect(released[0]).toBeLessThanOrEqual(300 + 300 * 0.25 + 20);
    // The room the mirror sees (3 left at 0 less the second probe, plus the refill) goes at once, not an interval apart ...
    expect(released.filter((t) => t === released[0]).length).toBeGreaterThanOrEqual(2);
    // ... and booked from when each caller wakes, the sends never outrun the server's bucket.
    expect(refusedByBurst(5, 5, sends)).toBe(0);
  });

  test('a released caller is booked from its wake-up: callers asleep at the first answer do not leave as a burst', () => {
    const limiter = new RateLimiter();
    const probes = [limiter.reserve(0, 10), limiter.reserve(0, 10)];
    // Four seconds into the hold, a held caller looks again only after a quarter of that: 1000 ms.
    const late = Array.from({ length: 12 }, () => limiter.reserve(4000, 10));
    for (const r of late) expect(ok(r).sleepMs).toBe(1000);
    // The first answer comes at 4100, while they sleep until 5000.
    limiter.observe(
      4100,
      { limitRequests: 300, remainingRequests: 3, resetRequestsMs: 400 },
      ok(probes[0]!).slot,
    );
    const sends = late.map((r) => {
      let now = 4000 + ok(r).sleepMs;
      let c = ok(limiter.confirm(now, ok(r).slot));
      while (c.waitMs > 0) {
        now += c.sleepMs;
        c = ok(limiter.confirm(now, ok(r).slot));
      }
      return now;
    });
    expect(Math.min(...sends)).toBe(5000);
    // Laid out from 4100 they would all be due at 5000 (eight of them); from 5000, a bucketful and then the pace.
    expect(sends.filter((t) => t === 5000).length).toBeLessThanOrEqual(5);
    expect(refusedByBurst(5, 5, [0, 0, ...sends])).toBe(0);
  });
});
