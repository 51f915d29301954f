/**
 * One verdict per failed attempt: retry after X ms (set by a source), or stop
 * with an outcome. Everything the adapter used to decide on its own lives
 * here: the retry policy, the deadline's claim on timeouts, the retry
 * budget's veto, the wait the limiter's bucket holds after a 429, the stream
 * rule, and how the SDK's `maxRetries` maps to attempts. Pure but for the
 * budget, a policy state machine passed in; time comes in as arguments.
 */
import { classify } from './classify.ts';
import type { Deadline } from './deadline.ts';
import { inBandOutcome } from './in-band.ts';
import { parseRetryAfter } from './retry-after.ts';
import type { RetryBudget } from './retry-budget.ts';
import { decide, type RetryPolicyOptions } from './retry-policy.ts';
import type { ThrottleKind } from './throttle.ts';
import type { AttemptFailure, BackoffSource, Classification, ErrorCategory, Outcome } from './types.ts';

export type StopOutcome = Exclude<Outcome, 'success'>;

export type Verdict =
  | {
      retry: true;
      delayMs: number;
      source: BackoffSource;
      /** The server's own ask, for the attempt span. */
      retryAfterMs?: number;
      /** How long the limiter's bucket holds after this 429 (rate_limited only). */
      holdMs?: number;
    }
  | {
      retry: false;
      outcome: StopOutcome;
      retryAfterMs?: number;
      holdMs?: number;
      /** The retry budget vetoed a retry the policy would have made. */
      budgetExhausted?: true;
    };

export interface FailedAttempt {
  failure: AttemptFailure;
  classification: Classification;
  /** Attempts made on this hop, the failed one included (1-based). */
  attempt: number;
  /** The wait before the failed attempt, for decorrelated jitter. */
  previousDelayMs?: number;
  /** The attempt timed out because the call's deadline cut its timeout short. */
  cutByDeadline: boolean;
}

export interface VerdictContext {
  nowMs: number;
  random: () => number;
  deadline: Deadline;
  /** This call's attempts per hop (see `attemptLimit`). */
  maxAttempts: number;
  policy: Omit<RetryPolicyOptions, 'maxAttempts' | 'deadlineMs'>;
  /** The client's retry budget, when on: a retry it cannot pay for is not made. */
  budget?: RetryBudget;
}

/** What happens after a failed attempt. Spends from the budget when it says retry. */
export function afterFailure(attempt: FailedAttempt, ctx: VerdictContext): Verdict {
  const verdict = afterAnyFailure(attempt, ctx);
  // An in-band failure not retried ends the call as what it was, whatever stopped the retries:
  // the caller gets that answer, failed status and all.
  const inBand = attempt.failure.inBand;
  return inBand && !verdict.retry ? { ...verdict, outcome: inBandOutcome(inBand) } : verdict;
}

function afterAnyFailure(attempt: FailedAttempt, ctx: VerdictContext): Verdict {
  const { failure, classification } = attempt;
  const { nowMs, policy } = ctx;
  const decision = decide(
    failure,
    classification,
    {
      attempt: Math.min(attempt.attempt, ctx.maxAttempts),
      elapsedMs: nowMs - ctx.deadline.startedAtMs,
      ...(attempt.previousDelayMs !== undefined ? { previousDelayMs: attempt.previousDelayMs } : {}),
    },
    {
      backoff: policy.backoff,
      maxRetryAfterMs: policy.maxRetryAfterMs,
      maxAttempts: ctx.maxAttempts,
      deadlineMs: ctx.deadline.deadlineMs,
    },
    { nowMs, random: ctx.random },
  );
  const holdMs =
    classification.category === 'rate_limited' ? bucketHoldMs(decision, failure, ctx) : undefined;
  const hold = holdMs !== undefined ? { holdMs } : {};
  const hint = decision.retryAfterMs !== undefined ? { retryAfterMs: decision.retryAfterMs } : {};
  // A timeout cut short by the deadline is the deadline's doing, not the server's.
  if (classification.category === 'timeout' && (attempt.cutByDeadline || ctx.deadline.leftMs(nowMs) <= 0))
    return { retry: false, outcome: 'deadline_exceeded', ...hold };
  if (!decision.retry) return { retry: false, outcome: decision.outcome, ...hint, ...hold };
  // An outage must not multiply load: past the budget, failures are returned, not retried.
  if (ctx.budget && !ctx.budget.tryAcquire(classification.category))
    return { retry: false, outcome: 'retries_exhausted', budgetExhausted: true, ...hold };
  return { retry: true, delayMs: decision.delayMs, source: decision.source, ...hint, ...hold };
}

/**
 * The server's wait holds the bucket even when this call retries no more (its
 * last attempt). Everyone waits as the server asked, but never longer than
 * this client is willing to wait.
 */
function bucketHoldMs(
  decision: { retryAfterMs?: number },
  failure: AttemptFailure,
  ctx: VerdictContext,
): number | undefined {
  const ms = decision.retryAfterMs ?? parseRetryAfter(failure.headers, ctx.nowMs)?.delayMs;
  return ms === undefined ? undefined : Math.min(ms, ctx.policy.maxRetryAfterMs);
}

/**
 * A stream that fails after chunks reached the caller (`failure` says so
 * where it matters): never retried, they cannot be taken back. Its outcome
 * says why it stopped.
 */
export function afterStreamFailure(
  failure: AttemptFailure,
  cutByDeadline: boolean,
): { classification: Classification; outcome: StopOutcome } {
  const classification = { ...classify(failure), retryable: false };
  const outcome = failure.inBand
    ? inBandOutcome(failure.inBand)
    : cutByDeadline
      ? 'deadline_exceeded'
      : classification.quotaExhausted
        ? 'quota_exhausted'
        : 'non_retryable';
  return { classification, outcome };
}

/**
 * Attempts per hop. A per-call `maxRetries` (the SDK's own option) means the
 * same to us: attempts = retries + 1. A request whose body is a stream can be
 * sent once only, as the SDK never retries it either.
 */
export function attemptLimit(input: {
  replayable: boolean;
  maxRetries: number | undefined;
  maxAttempts: number;
}): number {
  if (!input.replayable) return 1;
  return input.maxRetries !== undefined ? input.maxRetries + 1 : input.maxAttempts;
}

/** Whether a call that failed on one hop with `outcome` moves on to the next (a fallback, or `degrade`). */
export function fallsBack(outcome: StopOutcome, fallbackOn: readonly Outcome[], leftMs: number): boolean {
  return outcome !== 'aborted' && fallbackOn.includes(outcome) && leftMs > 0;
}

/**
 * After the last hop failed, whether `degrade` answers: for the outcomes it was
 * asked to cover, never for the caller's own abort (the SDK surfaces that).
 */
export function degrades(outcome: StopOutcome, fallbackOn: readonly Outcome[], inBand = false): boolean {
  // A request no hop could take (every one refused before sending) is the caller's to fix. A failed
  // or incomplete response is an answer the SDK returns, not an error: the caller gets it as is.
  return !inBand && outcome !== 'aborted' && outcome !== 'invalid_request' && fallbackOn.includes(outcome);
}

/** A `degrade` that did not answer: what the call ends as. Its own failure never hides the API's. */
export function degradeCutOutcome(cut: 'deadline' | 'aborted' | 'failed', last: StopOutcome): StopOutcome {
  return cut === 'deadline' ? 'deadline_exceeded' : cut === 'aborted' ? 'aborted' : last;
}

/**
 * Whether a failure is news for the rate limiter: only a rate limit is (a
 * `slow_down` included). A flex capacity miss, quota or a 5xx says nothing
 * about the bucket's pace.
 */
export function throttlesBucket(classification: Classification): boolean {
  return classification.category === 'rate_limited';
}

/**
 * How long the fleet pauses after a 429 the limiter judged: a storm (or
 * `slow_down`) holds every process until the hint; an isolated 429 was only
 * this call's. Undefined: nothing to tell the fleet.
 */
export function fleetPauseMs(kind: ThrottleKind | undefined, holdMs: number | undefined): number | undefined {
  return kind !== undefined && kind !== 'isolated' && holdMs ? holdMs : undefined;
}

/** Why the client refused to send: the outcome of a limiter or fleet refusal. */
export function refusalOutcome(reason: 'queue_full' | 'deadline' | 'quota'): StopOutcome {
  return reason === 'queue_full'
    ? 'queue_full'
    : reason === 'quota'
      ? 'quota_exhausted'
      : 'deadline_exceeded';
}

/** The wait before a retry as it happened: from the failure to the send. */
export interface RetryWait {
  /** When the failed attempt ended. */
  failedAtMs: number;
  /** What the verdict asked for, and who set it. */
  delayMs: number;
  source: BackoffSource;
  reason: ErrorCategory;
}

/**
 * One wait, one truth: what passed between the failure and this send, the
 * policy's sleep and the limiter's hold alike, credited to whichever held it
 * longer.
 */
export function creditWait(
  wait: RetryWait,
  sendAtMs: number,
  limiterWaitedMs: number | undefined,
): { ms: number; source: BackoffSource } {
  const source = limiterWaitedMs !== undefined && limiterWaitedMs > wait.delayMs ? 'limiter' : wait.source;
  return { ms: sendAtMs - wait.failedAtMs, source };
}
