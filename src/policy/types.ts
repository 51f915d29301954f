/** Shared vocabulary of the policy layer: plain data, no I/O, no SDK, no OTel. */

/**
 * How a call can fail, in the order the docs and error messages list them. A tuple, not
 * only a union: option checks (`fallbackOn`) and their messages read the same list.
 */
export const FAILURE_OUTCOMES = [
  'retries_exhausted',
  'non_retryable',
  'quota_exhausted',
  'deadline_exceeded',
  'aborted',
  'invalid_request',
  'circuit_open',
  'queue_full',
  /** A Responses result with `status: "failed"` (an HTTP 200 carrying an `error`). */
  'response_failed',
  /** A Responses result with `status: "incomplete"` (`max_output_tokens`, `content_filter`). */
  'response_incomplete',
  /** A spend budget (`budget`) is spent for this period: the primary was refused unsent. */
  'budget_exceeded',
] as const;

/** How a whole call ended: `retryscope.outcome` on the operation span. */
export const OUTCOMES = ['success', 'fallback', ...FAILURE_OUTCOMES] as const;
export type Outcome = (typeof OUTCOMES)[number];
export type FailureOutcome = (typeof FAILURE_OUTCOMES)[number];

/**
 * Who set the wait before an attempt: `retryscope.backoff_source`. The server's
 * hint, the exponential policy, or the client-side limiter when it held the
 * retry longer than either asked.
 */
export type BackoffSource = 'retry-after-ms' | 'retry-after' | 'exponential' | 'limiter' | 'none';

/** What became of one attempt: `retryscope.attempt.outcome`. */
export type AttemptOutcome = 'success' | 'retried' | 'failed';

/**
 * What kind of failure an attempt met, as the policy sees it
 * (`retryscope.retry_reason`). Closed and small so it can be a metric label.
 */
export type ErrorCategory =
  | 'rate_limited'
  /** A 429 about the provider's spare capacity (flex tier), not the caller's rate. */
  | 'capacity_unavailable'
  | 'quota_exhausted'
  | 'request_too_large'
  | 'server_error'
  | 'timeout'
  | 'connection_error'
  | 'conflict'
  | 'bad_request'
  | 'authentication'
  | 'permission_denied'
  | 'not_found'
  | 'unprocessable'
  | 'aborted'
  | 'stream_error'
  | 'malformed_response'
  /** A Responses result cut short (`status: "incomplete"`): the same request would stop the same way. */
  | 'incomplete'
  | 'unknown';

/** How a computed backoff is randomised (see backoff.ts). */
export const JITTERS = ['full', 'equal', 'decorrelated', 'none'] as const;
export type Jitter = (typeof JITTERS)[number];

export interface BackoffOptions {
  /** Base of the exponential: the cap of the first retry's wait. */
  initialMs: number;
  /** No computed wait exceeds this. */
  maxMs: number;
  jitter: Jitter;
}

/** A failed attempt, reduced to what the policy needs to decide. */
export interface AttemptFailure {
  /** HTTP status, when a response arrived. */
  status?: number;
  /** The provider's `error.code` (`rate_limit_exceeded`, `insufficient_quota`, ...). */
  code?: string;
  /** The provider's `error.type` (`requests`, `tokens`, `insufficient_quota`, ...). */
  type?: string;
  /** The provider's error message, used only to spot "Request too large". */
  message?: string;
  /** Lower-cased response headers, when a response arrived. */
  headers?: Readonly<Record<string, string>>;
  /** Transport-level failure, when no response arrived. */
  transport?: 'connection' | 'timeout' | 'aborted';
  /** A response arrived but its body did not parse. */
  malformed?: boolean;
  /** The failure happened after stream chunks reached the caller. */
  afterFirstChunk?: boolean;
  /** A 200 whose Responses result says it failed or stopped short (see in-band.ts). */
  inBand?: InBandFailure;
}

/** What a Responses result reports about itself when it did not complete. */
export interface InBandFailure {
  status: 'failed' | 'incomplete';
  /** `error.code` of a failed response. */
  code?: string;
  /** `incomplete_details.reason` of an incomplete one. */
  reason?: string;
  /**
   * The result was read back (`responses.retrieve`, a background poll): asking
   * again returns the same stored result, so it is never retried.
   */
  stored?: boolean;
}

export interface Classification {
  category: ErrorCategory;
  retryable: boolean;
  quotaExhausted: boolean;
  /** Provider error code when known (for `retryscope.error.code`). */
  code?: string;
}
