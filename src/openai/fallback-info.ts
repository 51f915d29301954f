import type { Outcome } from '../policy/types.ts';

/** How a call was served when the primary could not serve it. */
export interface ServedBy {
  /** 1.. = the fallback at that position (1-based); fallbacks.length + 1 = `degrade`. */
  fallbackIndex: number;
  /** The model the serving fallback asked for. */
  model?: string;
  /** Why the previous hop gave up. */
  reason: Outcome;
  /** Served by the `degrade` function, not by any API. */
  degraded: boolean;
}

// A WeakMap keeps the marker off the response object itself: nothing to serialise, nothing to leak.
const servedBy = new WeakMap<object, ServedBy>();

export function markServedBy(target: unknown, info: ServedBy): void {
  if (target !== null && typeof target === 'object') servedBy.set(target, info);
}

/**
 * Tells whether a result (parsed data, stream or raw `Response`) came from a
 * fallback or from `degrade`; `undefined` when the primary served it.
 */
export function servedByFallback(result: unknown): ServedBy | undefined {
  return result !== null && typeof result === 'object' ? servedBy.get(result) : undefined;
}
