/**
 * Failures inside a 200: a Responses result whose `status` is `failed` or
 * `incomplete`. The SDK returns them as ordinary results; the policy reads
 * them as the HTTP errors they stand for. Pure: plain data in, plain data out.
 */
import { isRecord } from './is-record.ts';
import type { Classification, ErrorCategory, InBandFailure, Outcome } from './types.ts';

/** `error.code` values of a failed response (the SDK's `ResponseError['code']`), for `error.type`. */
export const RESPONSE_ERROR_CODES = [
  'server_error',
  'rate_limit_exceeded',
  'invalid_prompt',
  'data_residency_mismatch',
  'bio_policy',
  'misalignment_policy_violation',
  'vector_store_timeout',
  'invalid_image',
  'invalid_image_format',
  'invalid_base64_image',
  'invalid_image_url',
  'image_too_large',
  'image_too_small',
  'image_parse_error',
  'image_content_policy_violation',
  'invalid_image_mode',
  'image_file_too_large',
  'unsupported_image_media_type',
  'empty_image_file',
  'failed_to_download_image',
  'image_file_not_found',
] as const;

/** `incomplete_details.reason` values of an incomplete response. */
export const INCOMPLETE_REASONS = ['max_output_tokens', 'content_filter', 'max_messages', 'steered'] as const;

/** Stream events that end a Responses stream without a completed answer. */
const TERMINAL_EVENTS: Readonly<Record<string, InBandFailure['status']>> = {
  'response.failed': 'failed',
  'response.incomplete': 'incomplete',
};

/** What a value outside the closed sets above is recorded as (the conventions' `_OTHER`). */
const OTHER = '_OTHER';

/**
 * The in-band failure a Responses result reports, if any: `data` is a
 * `response` object, or a stream event carrying one (`response.failed`,
 * `response.incomplete`).
 */
/**
 * Events a Responses stream opens with before any output: they say nothing the caller
 * could act on, so an attempt may hold them and still retry a failure that follows.
 */
const PRELUDE_EVENTS: ReadonlySet<string> = new Set([
  'response.created',
  'response.in_progress',
  'response.queued',
]);
/** At most this many held: a server that sends nothing else must still reach the caller. */
export const MAX_PRELUDE_EVENTS = 8;

/** Whether a stream item is one of a Responses stream's opening lifecycle events. */
export function isPreludeEvent(data: unknown): boolean {
  return isRecord(data) && typeof data.type === 'string' && PRELUDE_EVENTS.has(data.type);
}

export function inBandFailureOf(data: unknown, stored = false): InBandFailure | undefined {
  if (!isRecord(data)) return undefined;
  if (typeof data.type === 'string' && data.type.startsWith('response.')) {
    return TERMINAL_EVENTS[data.type] ? inBandFailureOf(data.response, stored) : undefined;
  }
  if (data.object !== 'response') return undefined;
  const extra = stored ? { stored: true } : {};
  if (data.status === 'failed') {
    const code = isRecord(data.error) && typeof data.error.code === 'string' ? data.error.code : undefined;
    return { status: 'failed', ...(code !== undefined ? { code } : {}), ...extra };
  }
  if (data.status === 'incomplete') {
    const details = data.incomplete_details;
    const reason = isRecord(details) && typeof details.reason === 'string' ? details.reason : undefined;
    return { status: 'incomplete', ...(reason !== undefined ? { reason } : {}), ...extra };
  }
  return undefined;
}

/** A failed response's code means what the same code means on an HTTP error. */
const CATEGORY_BY_CODE: Readonly<Record<string, ErrorCategory>> = {
  server_error: 'server_error',
  rate_limit_exceeded: 'rate_limited',
  vector_store_timeout: 'timeout',
};
const RETRYABLE: ReadonlySet<ErrorCategory> = new Set(['server_error', 'rate_limited', 'timeout']);

/**
 * A failed response is classified like the HTTP error it stands for (a
 * `server_error` is a 5xx, `rate_limit_exceeded` a 429); anything else it
 * reports is about the request (a bad image, a rejected prompt), and an
 * incomplete answer would stop at the same place again: neither is retried.
 * A stored result read back is the same however often it is read.
 */
export function classifyInBand(failure: InBandFailure): Classification {
  const code = failure.status === 'failed' ? failure.code : failure.reason;
  const category: ErrorCategory =
    failure.status === 'incomplete'
      ? 'incomplete'
      : (CATEGORY_BY_CODE[failure.code ?? ''] ?? (failure.code ? 'bad_request' : 'unknown'));
  return {
    category,
    retryable: !failure.stored && RETRYABLE.has(category),
    quotaExhausted: false,
    ...(code !== undefined ? { code } : {}),
  };
}

/** The call's outcome when its last answer was an in-band failure. */
export function inBandOutcome(failure: InBandFailure): Exclude<Outcome, 'success'> {
  return failure.status === 'failed' ? 'response_failed' : 'response_incomplete';
}

/**
 * `error.type` of an in-band failure: the error code, or the incomplete
 * reason, from a closed set (anything else `_OTHER`, so it can be a metric label).
 */
export function inBandErrorType(failure: InBandFailure): string {
  const value = failure.status === 'failed' ? failure.code : failure.reason;
  const known: readonly string[] = failure.status === 'failed' ? RESPONSE_ERROR_CODES : INCOMPLETE_REASONS;
  if (value === undefined) return failure.status === 'failed' ? 'response_failed' : 'response_incomplete';
  return known.includes(value) ? value : OTHER;
}
