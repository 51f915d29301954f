import type { BackoffSource, Classification, Outcome } from '../policy/types.ts';
import { type AttemptSummary, finalizeError } from './errors.ts';
import { errorTypeOf } from './extract.ts';

/** The attempts of one call, as the caller's error carries them (`getAttemptHistory`). */
export class History {
  readonly entries: AttemptSummary[] = [];

  get length(): number {
    return this.entries.length;
  }

  /** Adds an attempt; `fail` completes it when the attempt failed. */
  add(entry: {
    attempt: number;
    fallbackIndex: number;
    model?: string;
    status?: number;
    headers: Record<string, string>;
    backoffMs: number;
    backoffSource: BackoffSource;
    durationMs: number;
  }): { fail(error: unknown, classification: Classification): void } {
    const summary: AttemptSummary = {
      attempt: entry.attempt,
      fallbackIndex: entry.fallbackIndex,
      ...(entry.model ? { model: entry.model } : {}),
      ...(entry.status !== undefined ? { status: entry.status } : {}),
      ...(entry.headers['x-request-id'] ? { requestId: entry.headers['x-request-id'] } : {}),
      backoffMs: Math.round(entry.backoffMs),
      backoffSource: entry.backoffSource,
      durationMs: entry.durationMs,
    };
    this.entries.push(summary);
    return {
      fail(error, classification) {
        summary.errorType = errorTypeOf(error);
        summary.category = classification.category;
        if (classification.code) summary.code = classification.code;
      },
    };
  }

  /** The caller's error for this call, carrying the history. */
  finalize(error: unknown, outcome: Exclude<Outcome, 'success'>, backoffTotalMs: number): unknown {
    return finalizeError(error, {
      outcome,
      attempts: this.entries.length,
      totalBackoffMs: Math.round(backoffTotalMs),
      history: this.entries,
    });
  }
}
