/**
 * Per-key RPM and TPM token buckets, as pure arithmetic over an injected
 * time. A bucket is kept as what has been *used*, draining continuously at
 * `limit` per minute; what remains is `capacity - used`. Storing usage (not
 * room) is what makes a storm bite at once: when a phase cuts the limit,
 * the usage stays (up to one extra bucketful) and the room is gone.
 *
 * The capacity is a whole minute's limit unless `burstMs` says otherwise:
 * OpenAI may enforce limits over shorter periods (600 RPM as 10 per
 * second), and a short burst window is what lets a storm of a few seconds
 * show without a minute's worth of traffic.
 */
import type { RateLimits } from './types.ts';

export const MINUTE_MS = 60_000;

export interface BucketLimits extends RateLimits {
  /** How much of a minute's limit may be spent at once, in ms of refill. Default a minute. */
  burstMs?: number;
}

/** What a bucket holds when full: the limit, or the part of it one burst may spend. */
export function capacity(limit: number, burstMs: number | undefined): number {
  const window = Math.min(burstMs ?? MINUTE_MS, MINUTE_MS);
  return Math.max(1, (limit * window) / MINUTE_MS);
}

/** Float slack so waiting exactly the advertised retry-after always succeeds. */
const EPSILON = 1e-9;

export interface Bucket {
  used: number;
  /** When `used` was last brought up to date. */
  at: number;
}

export interface KeyBuckets {
  requests: Bucket;
  tokens: Bucket;
}

/** What the six `x-ratelimit-*` headers report. */
export interface RateLimitSnapshot {
  limitRequests: number;
  limitTokens: number;
  remainingRequests: number;
  remainingTokens: number;
  /** Until the request bucket is back to its full limit. */
  resetRequestsMs: number;
  resetTokensMs: number;
}

export type Admission =
  | { allowed: true; buckets: KeyBuckets; snapshot: RateLimitSnapshot }
  | {
      allowed: false;
      reason: 'requests' | 'tokens';
      limit: number;
      used: number;
      requested: number;
      /** Whole milliseconds (at least 1) until the request would fit. */
      retryAfterMs: number;
      buckets: KeyBuckets;
      snapshot: RateLimitSnapshot;
    }
  | {
      allowed: false;
      reason: 'too_large';
      limit: number;
      requested: number;
      buckets: KeyBuckets;
      snapshot: RateLimitSnapshot;
    };

export function emptyBuckets(now: number): KeyBuckets {
  return { requests: { used: 0, at: now }, tokens: { used: 0, at: now } };
}

/** Lets `used` drain for the time since the bucket was last touched. */
export function drain(bucket: Bucket, limit: number, now: number): Bucket {
  const elapsed = Math.max(0, now - bucket.at);
  return { used: Math.max(0, bucket.used - (elapsed * limit) / MINUTE_MS), at: Math.max(now, bucket.at) };
}

/**
 * Drains, then forgets any debt beyond one extra bucketful. Debt comes from
 * counted rejections or from a phase cutting the limits; capping it means a
 * client that stops hammering, or a storm that starts, waits seconds rather
 * than minutes.
 */
function settle(bucket: Bucket, limit: number, burstMs: number | undefined, now: number): Bucket {
  const drained = drain(bucket, limit, now);
  return { used: Math.min(drained.used, 2 * capacity(limit, burstMs)), at: drained.at };
}

/** Milliseconds until `used` has drained to `target`. */
function msUntil(used: number, target: number, limit: number): number {
  return used <= target ? 0 : ((used - target) * MINUTE_MS) / limit;
}

export function snapshot(buckets: KeyBuckets, limits: BucketLimits, now: number): RateLimitSnapshot {
  const requests = settle(buckets.requests, limits.rpm, limits.burstMs, now);
  const tokens = settle(buckets.tokens, limits.tpm, limits.burstMs, now);
  const room = (limit: number, used: number) =>
    Math.max(0, Math.floor(capacity(limit, limits.burstMs) - used + EPSILON));
  return {
    limitRequests: limits.rpm,
    limitTokens: limits.tpm,
    remainingRequests: room(limits.rpm, requests.used),
    remainingTokens: room(limits.tpm, tokens.used),
    resetRequestsMs: msUntil(requests.used, 0, limits.rpm),
    resetTokensMs: msUntil(tokens.used, 0, limits.tpm),
  };
}

export interface AdmitOptions {
  /** Rejected requests still take one from the request bucket (OpenAI counts them). */
  countRejected: boolean;
}

/**
 * Decides whether a request estimated at `tokens` fits now, and returns the
 * buckets as they stand afterwards. Never mutates its input.
 */
export function admit(
  buckets: KeyBuckets,
  limits: BucketLimits,
  tokens: number,
  now: number,
  options: AdmitOptions,
): Admission {
  const requests = settle(buckets.requests, limits.rpm, limits.burstMs, now);
  const tokenBucket = settle(buckets.tokens, limits.tpm, limits.burstMs, now);

  const requestRoom = capacity(limits.rpm, limits.burstMs);
  // A request bigger than a burst is let through when the bucket is empty,
  // or it could never pass; only the whole TPM limit is a hard ceiling.
  const tokenRoom = Math.max(capacity(limits.tpm, limits.burstMs), tokens);

  // Counting rejections is realistic; settle() caps the debt they build.
  const rejected = (): KeyBuckets => ({
    requests: options.countRejected
      ? { used: Math.min(requests.used + 1, 2 * requestRoom), at: requests.at }
      : requests,
    tokens: tokenBucket,
  });

  if (tokens > limits.tpm) {
    const after = rejected();
    return {
      allowed: false,
      reason: 'too_large',
      limit: limits.tpm,
      requested: tokens,
      buckets: after,
      snapshot: snapshot(after, limits, now),
    };
  }

  const fits = (state: KeyBuckets) => ({
    requestWait: msUntil(state.requests.used + 1, requestRoom + EPSILON, limits.rpm),
    tokenWait: msUntil(state.tokens.used + tokens, tokenRoom + EPSILON, limits.tpm),
  });
  const current = fits({ requests, tokens: tokenBucket });
  if (current.requestWait > 0 || current.tokenWait > 0) {
    // The wait is measured after this rejection's own cost, or a client that
    // honours retry-after exactly would be turned away again.
    const after = rejected();
    const { requestWait, tokenWait } = fits(after);
    // Name the bucket that binds longest; the wait covers both.
    const byRequests = requestWait >= tokenWait;
    return {
      allowed: false,
      reason: byRequests ? 'requests' : 'tokens',
      limit: byRequests ? limits.rpm : limits.tpm,
      used: Math.round(byRequests ? requests.used : tokenBucket.used),
      requested: byRequests ? 1 : tokens,
      retryAfterMs: Math.max(1, Math.ceil(Math.max(requestWait, tokenWait))),
      buckets: after,
      snapshot: snapshot(after, limits, now),
    };
  }

  const after: KeyBuckets = {
    requests: { used: requests.used + 1, at: requests.at },
    tokens: { used: tokenBucket.used + tokens, at: tokenBucket.at },
  };
  return { allowed: true, buckets: after, snapshot: snapshot(after, limits, now) };
}

/** Scales limits for a phase, keeping each at least 1 so the buckets stay meaningful. */
export function scaleLimits(limits: BucketLimits, scale: number): BucketLimits {
  return {
    ...limits,
    rpm: Math.max(1, Math.floor(limits.rpm * scale)),
    tpm: Math.max(1, Math.floor(limits.tpm * scale)),
  };
}
