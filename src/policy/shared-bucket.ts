import type { BlindTally } from './blind-sends.ts';

/**
 * The state one bucket shares across processes (through Redis), and the
 * decision each process takes against it on a call's hot path: one atomic
 * step that checks the fleet's quota flag and pause, and books a send slot
 * in a request GCRA and a token GCRA at the limits the headers taught.
 *
 * The same decision runs as a Lua script inside Redis (SHARED_ADMIT_LUA),
 * so that every process's booking is atomic; this TypeScript twin is the
 * specification, and the tests run both against the same cases. Pure: time
 * comes in as `now` (ms), from the caller's clock.
 */

export interface SharedState {
  /** Request GCRA: when the fleet's request bucket would be empty (ms). */
  reqTat: number;
  /** Token GCRA: when the fleet's token bucket would be empty (ms). */
  tokTat: number;
  /** Nobody sends before this (a 429's retry-after, seen by any process). */
  pausedUntil: number;
  /** The credential's quota is exhausted until this (insufficient_quota, seen by any process). */
  quotaUntil: number;
}

export interface SharedAdmit {
  now: number;
  /** The request's token estimate. */
  tokens: number;
  /** Limits the headers taught (0 = not known: that dimension is not paced). */
  rpm: number;
  tpm: number;
  /** How much of the rate may leave at once, as time. */
  burstMs: number;
  /** The longest wait the caller accepts (its deadline); a longer one books nothing. */
  maxWaitMs: number;
  /**
   * What the server last told this process the bucket holds (its `x-ratelimit-remaining-*`
   * headers, and when). The fleet's buckets never hold more room than that: rejected
   * requests, cold-start probes and traffic from outside the fleet spend the server's
   * bucket without a booking, and only the headers see them.
   */
  seen?: SeenRoom;
  /**
   * Requests this process sent before the limit was known (its cold-start probes), which the
   * fleet could not pace: charged to the request bucket with the first booking that can.
   */
  blind?: BlindTally;
}

/** A bucket's room as the server last reported it to this process. */
export interface SeenRoom {
  atMs: number;
  requests?: number;
  tokens?: number;
}

export type SharedAdmission =
  | { ok: true; waitMs: number }
  | { ok: false; reason: 'quota'; untilMs: number }
  | { ok: false; reason: 'deadline'; waitMs: number };

const MINUTE_MS = 60_000;

export function emptySharedState(): SharedState {
  return { reqTat: 0, tokTat: 0, pausedUntil: 0, quotaUntil: 0 };
}

/** One booking against the fleet's state; returns the decision and the state to store. */
export function admitShared(
  state: SharedState,
  input: SharedAdmit,
): { admission: SharedAdmission; state: SharedState } {
  const { now } = input;
  if (state.quotaUntil > now)
    return { admission: { ok: false, reason: 'quota', untilMs: state.quotaUntil }, state };
  const reqCost = input.rpm > 0 ? MINUTE_MS / input.rpm : 0;
  const tokCost = input.tpm > 0 ? (Math.max(0, input.tokens) * MINUTE_MS) / input.tpm : 0;
  const reqBurst = Math.max(input.burstMs, reqCost);
  const tokBurst = Math.max(input.burstMs, tokCost);
  // A storm's pause ends on an empty bucket: the server said no room, so its end brings one
  // request's worth, not a burst (booked to the hilt, the whole fleet would leave at once).
  let reqTat = Math.max(state.reqTat, state.pausedUntil + reqBurst - reqCost);
  let tokTat = Math.max(state.tokTat, state.pausedUntil + tokBurst - tokCost);
  // Two lower bounds on what the server's bucket holds, each taken on its own (their max, not
  // their sum: the room the headers reported already counts the blind sends that had arrived).
  // The fleet's bookings plus this process's blind sends, booked as of the last of them and at
  // most a bucketful (so a long blind spell never holds the bucket past one refill)...
  const { seen, blind } = input;
  const booked =
    blind && reqCost > 0
      ? Math.max(reqTat, blind.lastAt) + Math.min(blind.count * reqCost, reqBurst)
      : reqTat;
  // ...and the room the headers last reported, as of when they did.
  const reported = seen?.requests !== undefined ? seen.atMs + reqBurst - seen.requests * reqCost : reqTat;
  reqTat = Math.max(booked, reported);
  if (seen?.tokens !== undefined && input.tpm > 0)
    tokTat = Math.max(tokTat, seen.atMs + tokBurst - (seen.tokens * MINUTE_MS) / input.tpm);
  let slot = Math.max(now, state.pausedUntil);
  if (reqCost > 0) slot = Math.max(slot, reqTat - reqBurst + reqCost);
  if (tokCost > 0) slot = Math.max(slot, tokTat - tokBurst + tokCost);
  const waitMs = slot - now;
  if (waitMs > input.maxWaitMs) return { admission: { ok: false, reason: 'deadline', waitMs }, state };
  return {
    admission: { ok: true, waitMs },
    state: {
      ...state,
      reqTat: reqCost > 0 ? Math.max(reqTat, slot) + reqCost : state.reqTat,
      tokTat: tokCost > 0 ? Math.max(tokTat, slot) + tokCost : state.tokTat,
    },
  };
}

/** A 429 storm's retry-after, for the fleet: nobody sends before `until`. */
export function pauseShared(state: SharedState, until: number): SharedState {
  return { ...state, pausedUntil: Math.max(state.pausedUntil, until) };
}

/** insufficient_quota, for the fleet: every process fails fast until `until`. */
export function exhaustShared(state: SharedState, until: number): SharedState {
  return { ...state, quotaUntil: Math.max(state.quotaUntil, until) };
}

/**
 * The twin of `admitShared` (and of pause/exhaust, by `ARGV[1]`) in Redis's
 * Lua. KEYS[1] the bucket's hash, KEYS[2] the credential's quota key; both
 * carry the credential's hash tag, so they live in one Cluster slot. The
 * hash expires when idle (`ARGV[8]` ms), so abandoned buckets cost nothing.
 * `ARGV[9..11]` are the room last seen (when, requests, tokens; -1 = not seen),
 * `ARGV[12..13]` this process's blind sends (count, and when the last left).
 * Returns { kind, ms }: 0 ok (wait ms), 1 quota (until), 2 deadline (wait ms).
 */
export const SHARED_ADMIT_LUA = `
local op = ARGV[1]
local now = tonumber(ARGV[2])
local idle = tonumber(ARGV[8])
if op == 'pause' then
  local until_ = tonumber(ARGV[3])
  local p = tonumber(redis.call('HGET', KEYS[1], 'p') or '0')
  if until_ > p then redis.call('HSET', KEYS[1], 'p', ARGV[3]) end
  redis.call('PEXPIRE', KEYS[1], idle)
  return {0, 0}
end
if op == 'quota' then
  local until_ = tonumber(ARGV[3])
  local q = tonumber(redis.call('GET', KEYS[2]) or '0')
  if until_ > q then redis.call('SET', KEYS[2], ARGV[3], 'PX', math.max(1, until_ - now)) end
  return {0, 0}
end
local q = tonumber(redis.call('GET', KEYS[2]) or '0')
if q > now then return {1, tostring(q)} end
local tokens = tonumber(ARGV[3])
local rpm = tonumber(ARGV[4])
local tpm = tonumber(ARGV[5])
local burst = tonumber(ARGV[6])
local maxWait = tonumber(ARGV[7])
local s = redis.call('HMGET', KEYS[1], 'r', 't', 'p')
local reqTat = tonumber(s[1] or '0')
local tokTat = tonumber(s[2] or '0')
local paused = tonumber(s[3] or '0')
local reqCost = 0
if rpm > 0 then reqCost = 60000 / rpm end
local tokCost = 0
if tpm > 0 then tokCost = math.max(0, tokens) * 60000 / tpm end
local reqBurst = math.max(burst, reqCost)
local tokBurst = math.max(burst, tokCost)
reqTat = math.max(reqTat, paused + reqBurst - reqCost)
tokTat = math.max(tokTat, paused + tokBurst - tokCost)
local seenAt = tonumber(ARGV[9] or '0')
local seenReq = tonumber(ARGV[10] or '-1')
local seenTok = tonumber(ARGV[11] or '-1')
local blindCount = tonumber(ARGV[12] or '0')
local blindAt = tonumber(ARGV[13] or '0')
local booked = reqTat
if blindCount > 0 and reqCost > 0 then booked = math.max(reqTat, blindAt) + math.min(blindCount * reqCost, reqBurst) end
local reported = reqTat
if seenReq >= 0 then reported = seenAt + reqBurst - seenReq * reqCost end
reqTat = math.max(booked, reported)
if seenTok >= 0 and tpm > 0 then tokTat = math.max(tokTat, seenAt + tokBurst - seenTok * 60000 / tpm) end
local slot = math.max(now, paused)
if reqCost > 0 then slot = math.max(slot, reqTat - reqBurst + reqCost) end
if tokCost > 0 then slot = math.max(slot, tokTat - tokBurst + tokCost) end
local wait = slot - now
if wait > maxWait then return {2, tostring(wait)} end
if reqCost > 0 then redis.call('HSET', KEYS[1], 'r', tostring(math.max(reqTat, slot) + reqCost)) end
if tokCost > 0 then redis.call('HSET', KEYS[1], 't', tostring(math.max(tokTat, slot) + tokCost)) end
redis.call('PEXPIRE', KEYS[1], idle)
return {0, tostring(wait)}
`;
