/**
 * The headers OpenAI puts on every answer. The `x-ratelimit-reset-*` values
 * are Go durations; `retry-after` is whole seconds rounded up, so a client
 * that honours either never comes back early.
 */
import { formatGoDuration } from './go-duration.ts';
import type { RateLimitSnapshot } from './rate-limiter.ts';

export type Headers = Record<string, string>;

export function rateLimitHeaders(snapshot: RateLimitSnapshot): Headers {
  return {
    'x-ratelimit-limit-requests': String(snapshot.limitRequests),
    'x-ratelimit-limit-tokens': String(snapshot.limitTokens),
    'x-ratelimit-remaining-requests': String(snapshot.remainingRequests),
    'x-ratelimit-remaining-tokens': String(snapshot.remainingTokens),
    'x-ratelimit-reset-requests': formatGoDuration(Math.ceil(snapshot.resetRequestsMs)),
    'x-ratelimit-reset-tokens': formatGoDuration(Math.ceil(snapshot.resetTokensMs)),
  };
}

export function retryAfterHeaders(retryAfterMs: number): Headers {
  const ms = Math.max(1, Math.ceil(retryAfterMs));
  return { 'retry-after-ms': String(ms), 'retry-after': String(Math.ceil(ms / 1000)) };
}

export function baseHeaders(requestId: string, processingMs: number): Headers {
  return {
    'x-request-id': requestId,
    'openai-processing-ms': String(Math.max(0, Math.round(processingMs))),
    'openai-organization': 'org-sim',
    'openai-version': '2020-10-01',
  };
}
