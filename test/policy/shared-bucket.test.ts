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

describe('the fleet never holds more room than the headers reported', () => {
  test('4 requests left on the server: 4 leave now, the rest at the rate', () => {
    // An idle fleet would let a whole burst (20) go; the server said 4 remain (probes and
    // rejected requests spent the rest without a booking).
    const seen = { atMs: 10_000, requests: 4 };
    let state = emptySharedState();
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = admitShared(state, { ...base, now: 10_000, seen });
      if (!r.admission.ok) throw new Error('refused');
      waits.push(r.admission.waitMs);
      state = r.state;
    }
    expect(waits).toEqual([0, 0, 0, 0, 50, 100]);
  });

  test('an old report binds less: the bucket refilled since it was seen', () => {
    // Seen empty 500 ms ago: 10 requests (500 ms at 20/s) have refilled.
    const r = book(emptySharedState(), 10_500, 1);
    const fresh = admitShared(emptySharedState(), {
      ...base,
      now: 10_500,
      seen: { atMs: 10_500, requests: 0 },
    });
    const old = admitShared(emptySharedState(), {
      ...base,
      now: 10_500,
      seen: { atMs: 10_000, requests: 0 },
    });
    expect(r.waits).toEqual([0]);
    expect(fresh.admission).toEqual({ ok: true, waitMs: 50 });
    expect(old.admission).toEqual({ ok: true, waitMs: 0 });
  });

  test('room the fleet has already booked past is no constraint', () => {
    const { state } = book(emptySharedState(), 10_000, 20);
    const plain = admitShared(state, { ...base, now: 10_000 });
    const seen = admitShared(state, { ...base, now: 10_000, seen: { atMs: 10_000, requests: 15 } });
    expect(seen).toEqual(plain);
  });

  test('tokens: the room reported in tokens bounds a token-paced booking', () => {
    // 60,000 TPM: 1 token per ms, a 1000-token burst. 700 tokens left; two 600-token requests.
    const tok = { ...base, rpm: 0, tpm: 60_000, tokens: 600, now: 100_000 };
    const waits = (seen?: SharedAdmit['seen']) => {
      const first = admitShared(emptySharedState(), { ...tok, ...(seen ? { seen } : {}) });
      const second = admitShared(first.state, { ...tok, ...(seen ? { seen } : {}) });
      return [first.admission, second.admission].map((a) => (a.ok ? a.waitMs : -1));
    };
    expect(waits()).toEqual([0, 200]);
    expect(waits({ atMs: 100_000, tokens: 700 })).toEqual([0, 500]);
  });
});

describe('blind sends (cold-start probes) are charged to the fleet', () => {
  const take = (state: SharedState, input: SharedAdmit) => {
    const r = admitShared(state, input);
    return { wait: r.admission.ok ? r.admission.waitMs : -1, state: r.state };
  };
  const waitsAfter = (first: SharedAdmit, n: number) => {
    let { wait, state } = take(emptySharedState(), first);
    const waits = [wait];
    for (let i = 1; i < n; i++) {
      ({ wait, state } = take(state, { ...base, now: first.now }));
      waits.push(wait);
    }
    return waits;
  };

  test('8 probes sent just now: the first paced booking leaves 12 of the 20', () => {
    const waits = waitsAfter({ ...base, now: 10_000, blind: { count: 8, lastAt: 10_000 } }, 14);
    expect(waits.filter((w) => w === 0)).toHaveLength(12);
    expect(waits.slice(12)).toEqual([50, 100]);
  });

  test('probes sent a while ago have refilled: charged as of when they left', () => {
    // 8 probes 400 ms ago at 20/s: the bucket has had 8 back since.
    const waits = waitsAfter({ ...base, now: 10_400, blind: { count: 8, lastAt: 10_000 } }, 21);
    expect(waits.filter((w) => w === 0)).toHaveLength(20);
  });

  test('a long blind spell is charged at most a bucketful: the next send waits one interval, never more', () => {
    // 200 sends while the server sent no rate-limit headers, then a limit of 60 RPM (1 s per request).
    const slow = { ...base, rpm: 60, now: 10_000, maxWaitMs: 1500 };
    const r = admitShared(emptySharedState(), { ...slow, blind: { count: 200, lastAt: 10_000 } });
    expect(r.admission).toEqual({ ok: true, waitMs: 1000 });
  });

  test('not on top of the room the headers reported: the larger of the two bounds, not their sum', () => {
    // The server said 18 remain after 2 probes: 18 leave, not 16.
    const seen = { atMs: 10_000, requests: 18 };
    const waits = waitsAfter({ ...base, now: 10_000, seen, blind: { count: 2, lastAt: 10_000 } }, 20);
    expect(waits.filter((w) => w === 0)).toHaveLength(18);
  });

  test('a limit still unknown charges nothing (it paces nothing either)', () => {
    const r = admitShared(emptySharedState(), {
      ...base,
      rpm: 0,
      now: 10_000,
      blind: { count: 8, lastAt: 10_000 },
    });
    expect(r.state).toEqual(emptySharedState());
  });
});
