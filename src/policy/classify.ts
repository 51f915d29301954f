import { classifyInBand } from './in-band.ts';
import type { AttemptFailure, Classification, ErrorCategory } from './types.ts';

const QUOTA = 'insufficient_quota';

/**
 * Decides what an attempt's failure means and whether another attempt could
 * succeed. Pure: it sees plain data, never an SDK object.
 *
 * Order matters. What the body says can never succeed (quota exhausted, a
 * request larger than the whole limit) wins over everything, including
 * `x-should-retry`; the header then overrides the status-based rules either
 * way, as it does in the official SDKs.
 */
export function classify(failure: AttemptFailure): Classification {
  // A 200 that reports its own failure: its body says what it was, whatever the status.
  if (failure.inBand) return classifyInBand(failure.inBand);
  const code = failure.code ?? (failure.type === QUOTA ? QUOTA : undefined);
  const withCode = (category: ErrorCategory, retryable: boolean): Classification => ({
    category,
    retryable,
    quotaExhausted: category === 'quota_exhausted',
    ...(code !== undefined ? { code } : {}),
  });

  if (failure.transport === 'aborted') return withCode('aborted', false);
  if (failure.code === QUOTA || failure.type === QUOTA) return withCode('quota_exhausted', false);
  if (failure.afterFirstChunk) return withCode('stream_error', false);
  if (failure.status === 429 && isRequestTooLarge(failure)) return withCode('request_too_large', false);
  // Flex processing's "429 Resource Unavailable": the tier's spare capacity, not our rate. Retried
  // (or sent to a fallback, e.g. the default tier), and never a reason to slow the bucket down.
  if (failure.status === 429 && isCapacityUnavailable(failure))
    return withHeaderOverride(failure, withCode('capacity_unavailable', true));
  if (failure.transport === 'timeout') return withCode('timeout', true);
  if (failure.transport === 'connection') return withCode('connection_error', true);

  const status = failure.status;
  if (status === undefined) {
    if (failure.malformed) return withCode('malformed_response', true);
    // An error event inside a stream has no status; its code or type says what it was.
    const fromBody = CATEGORY_BY_CODE[failure.code ?? ''] ?? CATEGORY_BY_CODE[failure.type ?? ''];
    return fromBody ? withCode(fromBody, RETRYABLE_CATEGORIES.has(fromBody)) : withCode('unknown', false);
  }

  const category = categoryForStatus(status);
  const override = failure.headers?.['x-should-retry'];
  if (override === 'true') return withCode(category, true);
  if (override === 'false') return withCode(category, false);
  return withCode(category, RETRYABLE_CATEGORIES.has(category));
}

/** `x-should-retry` overrides the rule either way, as in the official SDKs. */
function withHeaderOverride(failure: AttemptFailure, classification: Classification): Classification {
  const override = failure.headers?.['x-should-retry'];
  if (override === 'true') return { ...classification, retryable: true };
  if (override === 'false') return { ...classification, retryable: false };
  return classification;
}

const RETRYABLE_CATEGORIES: ReadonlySet<ErrorCategory> = new Set([
  'rate_limited',
  'capacity_unavailable',
  'server_error',
  'timeout',
  'conflict',
]);

const CATEGORY_BY_CODE: Readonly<Record<string, ErrorCategory>> = {
  server_error: 'server_error',
  api_error: 'server_error',
  rate_limit_exceeded: 'rate_limited',
  // OpenAI asks traffic that grew too fast to slow down: a rate limit, cut harder (see throttle.ts).
  slow_down: 'rate_limited',
  resource_unavailable: 'capacity_unavailable',
  // 503 service_unavailable_error: OpenAI's servers are busy, a server error like any 5xx.
  server_is_overloaded: 'server_error',
  service_unavailable_error: 'server_error',
  invalid_request_error: 'bad_request',
};

function categoryForStatus(status: number): ErrorCategory {
  if (status >= 500) return 'server_error';
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'authentication';
    case 403:
      return 'permission_denied';
    case 404:
      return 'not_found';
    case 408:
      return 'timeout';
    case 409:
      return 'conflict';
    case 422:
      return 'unprocessable';
    case 429:
      return 'rate_limited';
    default:
      return 'unknown';
  }
}

function isCapacityUnavailable(failure: AttemptFailure): boolean {
  return (
    failure.code === 'resource_unavailable' ||
    failure.type === 'resource_unavailable' ||
    /resource unavailable/i.test(failure.message ?? '')
  );
}

/** OpenAI answers a request bigger than the whole TPM limit with a 429 that no wait can fix. */
function isRequestTooLarge(failure: AttemptFailure): boolean {
  return /request too large/i.test(failure.message ?? '') || failure.code === 'request_too_large';
}
