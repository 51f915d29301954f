/**
 * What one finished span adds to the counts. The progress bar and the report
 * both count with `countSpan`, so "after retries" means the same in both:
 * an operation whose outcome is `success` and which took more than one
 * attempt. A call served by a fallback counts as `fallback`, not as a success.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import * as A from '../telemetry/attributes.ts';

export interface Tally {
  operations: number;
  byOutcome: Record<string, number>;
  /** Operations with outcome `success` that took more than one attempt. */
  successAfterRetries: number;
  /** Operations that ended in an error, by `error.type` (or outcome when there is none). */
  failedByClass: Record<string, number>;
  /** Attempts answered with `insufficient_quota`. */
  quotaEvents: number;
}

/** Outcomes that gave the caller an answer. */
export const ANSWERED = new Set(['success', 'fallback']);

export function emptyTally(): Tally {
  return { operations: 0, byOutcome: {}, successAfterRetries: 0, failedByClass: {}, quotaEvents: 0 };
}

export const isOperation = (span: ReadableSpan) => span.attributes[A.ATTR_OUTCOME] !== undefined;
export const isAttempt = (span: ReadableSpan) => span.attributes[A.ATTR_ATTEMPT] !== undefined;

export function countSpan(tally: Tally, span: ReadableSpan): void {
  const a = span.attributes;
  if (a[A.ATTR_QUOTA_EXHAUSTED] === true) tally.quotaEvents++;
  const outcome = a[A.ATTR_OUTCOME];
  if (outcome === undefined) return;
  const name = String(outcome);
  tally.operations++;
  tally.byOutcome[name] = (tally.byOutcome[name] ?? 0) + 1;
  if (name === 'success' && Number(a[A.ATTR_ATTEMPTS] ?? 1) > 1) tally.successAfterRetries++;
  if (!ANSWERED.has(name)) {
    const cls = String(a[A.ATTR_ERROR_TYPE] ?? name);
    tally.failedByClass[cls] = (tally.failedByClass[cls] ?? 0) + 1;
  }
}

export function tallyOf(spans: readonly ReadableSpan[]): Tally {
  const tally = emptyTally();
  for (const span of spans) countSpan(tally, span);
  return tally;
}

export const failedTotal = (tally: Tally) =>
  Object.values(tally.failedByClass).reduce((sum, n) => sum + n, 0);
