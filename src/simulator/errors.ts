/**
 * OpenAI's error bodies, word for word where OpenAI's wording is known, so
 * code that classifies errors by `type`, `code` or message is exercised
 * against what production sends.
 */
import { formatGoDuration } from './go-duration.ts';

export interface OpenAIErrorObject {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

export interface ApiError {
  status: number;
  error: OpenAIErrorObject;
}

export const ORGANIZATION = 'org-sim';

function apiError(status: number, message: string, type: string, param: string | null, code: string | null) {
  return { status, error: { message, type, param, code } };
}

export function invalidRequest(message: string, param: string | null, code: string | null = null): ApiError {
  return apiError(400, message, 'invalid_request_error', param, code);
}

export function notFound(method: string, path: string): ApiError {
  return apiError(404, `Invalid URL (${method} ${path})`, 'invalid_request_error', null, null);
}

/** OpenAI's answer to `GET /responses/{id}` for an id it does not know. */
export function responseNotFound(id: string): ApiError {
  return apiError(404, `Response with id '${id}' not found.`, 'invalid_request_error', null, null);
}

export function missingApiKey(): ApiError {
  return apiError(
    401,
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
    'invalid_request_error',
    null,
    null,
  );
}

/** Like OpenAI, shows only the start and end of the key. */
export function invalidApiKey(key: string): ApiError {
  const shown = key.length > 8 ? `${key.slice(0, 3)}*****${key.slice(-4)}` : '*****';
  return apiError(
    401,
    `Incorrect API key provided: ${shown}. You can find your API key at https://platform.openai.com/account/api-keys.`,
    'invalid_request_error',
    null,
    'invalid_api_key',
  );
}

export function rateLimited(
  model: string,
  reason: 'requests' | 'tokens',
  limit: number,
  used: number,
  requested: number,
  retryAfterMs: number,
): ApiError {
  const unit = reason === 'requests' ? 'requests per min (RPM)' : 'tokens per min (TPM)';
  return apiError(
    429,
    `Rate limit reached for ${model} in organization ${ORGANIZATION} on ${unit}: Limit ${limit}, Used ${used}, Requested ${requested}. Please try again in ${formatGoDuration(retryAfterMs)}.`,
    reason,
    null,
    'rate_limit_exceeded',
  );
}

export function requestTooLarge(model: string, limit: number, requested: number): ApiError {
  return apiError(
    429,
    `Request too large for ${model} in organization ${ORGANIZATION} on tokens per min (TPM): Limit ${limit}, Requested ${requested}. The input or output tokens must be reduced in order to run successfully.`,
    'tokens',
    null,
    'rate_limit_exceeded',
  );
}

export const QUOTA_MESSAGE =
  'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.';

export function insufficientQuota(): ApiError {
  return apiError(429, QUOTA_MESSAGE, 'insufficient_quota', null, 'insufficient_quota');
}

export function serverError(status: 500 | 502 | 503): ApiError {
  const message = {
    500: 'The server had an error while processing your request. Sorry about that!',
    502: 'Bad gateway.',
    503: 'The server is overloaded or not ready yet.',
  }[status];
  return apiError(status, message, 'server_error', null, null);
}

export function modelUnavailable(model: string): ApiError {
  return apiError(
    503,
    `The model ${model} is currently unavailable (simulated outage). Please try again later or use another model.`,
    'server_error',
    null,
    null,
  );
}

export function payloadTooLarge(limitBytes: number): ApiError {
  return apiError(413, `Request body exceeds ${limitBytes} bytes.`, 'invalid_request_error', null, null);
}
