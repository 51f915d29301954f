import { resetHeaderMs } from './go-duration.ts';

/** What the `x-ratelimit-*` headers said about the headroom left. */
export interface RateLimitHeadroom {
  limitRequests?: number;
  limitTokens?: number;
  remainingRequests?: number;
  remainingTokens?: number;
  resetRequestsMs?: number;
  resetTokensMs?: number;
}

/** Parses OpenAI's six rate-limit headers; absent or bad values are left out. */
export function parseRateLimitHeaders(
  headers: Readonly<Record<string, string>> | undefined,
): RateLimitHeadroom {
  const out: RateLimitHeadroom = {};
  if (!headers) return out;
  setIfDefined(out, 'limitRequests', parseCount(headers['x-ratelimit-limit-requests']));
  setIfDefined(out, 'limitTokens', parseCount(headers['x-ratelimit-limit-tokens']));
  setIfDefined(out, 'remainingRequests', parseCount(headers['x-ratelimit-remaining-requests']));
  setIfDefined(out, 'remainingTokens', parseCount(headers['x-ratelimit-remaining-tokens']));
  setIfDefined(out, 'resetRequestsMs', resetHeaderMs(headers['x-ratelimit-reset-requests']));
  setIfDefined(out, 'resetTokensMs', resetHeaderMs(headers['x-ratelimit-reset-tokens']));
  return out;
}

function parseCount(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

function setIfDefined<K extends keyof RateLimitHeadroom>(
  target: RateLimitHeadroom,
  key: K,
  value: RateLimitHeadroom[K],
): void {
  if (value !== undefined) target[key] = value;
}
