import type { RateLimitHeadroom } from './ratelimit-headers.ts';

/**
 * What a 429 rate_limit_exceeded says about the bucket: a storm (the bucket
 * really is empty: everyone pauses and the send rate is cut), an isolated
 * rejection (only that call backs off), or a `slow_down` (traffic grew too
 * fast for OpenAI, even inside the limits: cut harder, climb back slower).
 *
 * The headers are believed over the status: a 429 whose own headers, or the
 * last ones seen, show ample room is not about our load (a hiccup, a noisy
 * upstream), and cutting the rate for it collapses throughput for nothing.
 * Without any headers, only a run of 429s that is a real share of the
 * answers counts as a storm.
 */
export type ThrottleKind = 'storm' | 'isolated' | 'slow_down';

export interface ThrottleEvidence {
  /** The 429's error code, if any (`slow_down`). */
  code?: string | undefined;
  /** The 429's own x-ratelimit-* headers. */
  own?: RateLimitHeadroom | undefined;
  /** The fullest-known room from the most recent headers (0 = empty, 1 = full), and how old it is. */
  recentRoom?: number | undefined;
  recentAgeMs?: number | undefined;
  /** 429s and answers (429s included) in the last `STORM_WINDOW_MS`, this one included. */
  throttles: number;
  answers: number;
}

/** A bucket with at least this share of its limit left has room: a 429 then is not about load. */
export const AMPLE_ROOM = 0.1;
/** Headers older than this say nothing about now. */
export const RECENT_HEADERS_MS = 2000;
export const STORM_WINDOW_MS = 1000;
/** Without headers, a storm is at least this many 429s in the window ... */
const STORM_MIN_THROTTLES = 2;
/** ... and at least this share of the answers. */
const STORM_MIN_SHARE = 0.1;

export function judgeThrottle(evidence: ThrottleEvidence): ThrottleKind {
  if (evidence.code === 'slow_down') return 'slow_down';
  const own = evidence.own ? roomOf(evidence.own) : undefined;
  if (own !== undefined) return own >= AMPLE_ROOM ? 'isolated' : 'storm';
  if (
    evidence.recentRoom !== undefined &&
    evidence.recentAgeMs !== undefined &&
    evidence.recentAgeMs <= RECENT_HEADERS_MS
  )
    return evidence.recentRoom >= AMPLE_ROOM ? 'isolated' : 'storm';
  const share = evidence.answers > 0 ? evidence.throttles / evidence.answers : 1;
  return evidence.throttles >= STORM_MIN_THROTTLES && share >= STORM_MIN_SHARE ? 'storm' : 'isolated';
}

/** The emptier of the request and token buckets, as a share of its limit; undefined if neither is told. */
export function roomOf(headroom: RateLimitHeadroom): number | undefined {
  const shares: number[] = [];
  if (headroom.limitRequests && headroom.remainingRequests !== undefined)
    shares.push(headroom.remainingRequests / headroom.limitRequests);
  if (headroom.limitTokens && headroom.remainingTokens !== undefined)
    shares.push(headroom.remainingTokens / headroom.limitTokens);
  return shares.length ? Math.max(0, Math.min(...shares)) : undefined;
}
