/**
 * Per-key RPM and TPM token buckets, as pure arithmetic over an injected
 * time. A bucket is kept as what has been *used*, draining continuously at
 * `limit` per minute; what remains is `limit - used`. Storing usage (not
 * room) is what makes a storm bite at once: when a phase cuts the limit,
 * the usage stays and the room is gone.
 */
import type { RateLimits } from './types.ts';

export const MINUTE_MS = 60_000;

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

/** Milliseconds until `used` has drained to `target`. */
function msUntil(used: number, target: number, limit: number): number {
  return used <= target ? 0 : ((used - target) * MINUTE_MS) / limit;
}

export function snapshot(buckets: KeyBuckets, limits: RateLimits, now: number): RateLimitSnapshot {
  const requests = drain(buckets.requests, limits.rpm, now);
  const tokens = drain(buckets.tokens, limits.tpm, now);
  return {
    limitRequests: limits.rpm,
    limitTokens: limits.tpm,
    remainingRequests: Math.max(0, Math.floor(limits.rpm - requests.used + EPSILON)),
    remainingTokens: Math.max(0, Math.floor(limits.tpm - tokens.used + EPSILON)),
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
  limits: RateLimits,
  tokens: number,
  now: number,
  options: AdmitOptions,
): Admission {
  const requests = drain(buckets.requests, limits.rpm, now);
  const tokenBucket = drain(buckets.tokens, limits.tpm, now);

  // Penalising rejections is realistic, but capped at one extra minute of
  // usage so a runaway client can still recover after it stops.
  const rejected = (): KeyBuckets => ({
    requests: options.countRejected
      ? { used: Math.min(requests.used + 1, 2 * limits.rpm), at: requests.at }
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
    requestWait: msUntil(state.requests.used + 1, limits.rpm + EPSILON, limits.rpm),
    tokenWait: msUntil(state.tokens.used + tokens, limits.tpm + EPSILON, limits.tpm),
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
export function scaleLimits(limits: RateLimits, scale: number): RateLimits {
  return {
    rpm: Math.max(1, Math.floor(limits.rpm * scale)),
    tpm: Math.max(1, Math.floor(limits.tpm * scale)),
  };
}
