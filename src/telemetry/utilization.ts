import type { Attributes, Gauge } from '@opentelemetry/api';
import type { RateLimitHeadroom } from '../policy/ratelimit-headers.ts';
import * as A from './attributes.ts';

/**
 * The share of a limit in use, 1 - remaining / limit, held to [0, 1] (a
 * remaining above the limit, as a proxy may report, reads as 0). Undefined
 * unless the answer carried both, and a limit above zero.
 */
export function utilization(limit: number | undefined, remaining: number | undefined): number | undefined {
  if (limit === undefined || remaining === undefined || limit <= 0) return undefined;
  // (limit - remaining) / limit: exact where 1 - remaining / limit would round.
  return Math.min(1, Math.max(0, (limit - remaining) / limit));
}

/** One point per kind the headers reported, with the attempt's own metric attributes. */
export function recordUtilization(gauge: Gauge, h: RateLimitHeadroom, attributes: Attributes): void {
  const share = {
    requests: utilization(h.limitRequests, h.remainingRequests),
    tokens: utilization(h.limitTokens, h.remainingTokens),
  } satisfies Record<(typeof A.RATELIMIT_KINDS)[number], number | undefined>;
  for (const kind of A.RATELIMIT_KINDS) {
    const value = share[kind];
    if (value !== undefined) gauge.record(value, { ...attributes, [A.ATTR_RATELIMIT_KIND]: kind });
  }
}
