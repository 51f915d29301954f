import OpenAI from 'openai';
import type { BackoffSource, ErrorCategory, Outcome } from '../policy/types.ts';

/** One attempt of a call, as the caller's error reports it. */
export interface AttemptSummary {
  attempt: number;
  /** Which hop made it: 0 = the primary, 1.. = fallbacks. */
  fallbackIndex: number;
  model?: string;
  status?: number;
  /** SDK error class name (`RateLimitError`, `APIConnectionError`, ...); absent on success. */
  errorType?: string;
  code?: string;
  category?: ErrorCategory;
  requestId?: string;
  /** The wait taken before this attempt. */
  backoffMs: number;
  backoffSource: BackoffSource;
  durationMs: number;
}

/** What retryscope attaches to the error a caller gets, as `error.retryscope`. */
export interface AttemptHistory {
  outcome: Outcome;
  attempts: number;
  totalBackoffMs: number;
  history: AttemptSummary[];
}

/**
 * A 429 `insufficient_quota`: the spend limit is reached and no retry can
 * succeed. Still `instanceof OpenAI.RateLimitError`, so existing handlers keep
 * working; check `instanceof QuotaExhaustedError` (or `isQuotaExhausted()`) to
 * tell it apart from an ordinary rate limit.
 */
export class QuotaExhaustedError extends OpenAI.RateLimitError {
  override readonly name = 'QuotaExhaustedError';
}

/**
 * The circuit for this upstream is open after a run of 5xx errors or
 * timeouts: the call was not sent. An `APIConnectionError`, as the upstream
 * is, for now, unreachable.
 */
export class CircuitOpenError extends OpenAI.APIConnectionError {
  override readonly name = 'CircuitOpenError';
}

/**
 * The client-side limiter refused the call: its queue is full, or the wait
 * for a send slot would end past the call's deadline. Nothing was sent. A
 * `RateLimitError` (status 429, code `client_queue_full` or
 * `client_deadline`), so rate-limit handling you already have applies.
 */
export class ClientRateLimitError extends OpenAI.RateLimitError {
  override readonly name = 'ClientRateLimitError';
}

export function clientRateLimitError(
  reason: 'queue_full' | 'deadline',
  waitMs: number,
): ClientRateLimitError {
  const message =
    reason === 'queue_full'
      ? 'retryscope: the client-side rate limiter queue is full; the call was not sent'
      : `retryscope: the client-side rate limiter would hold this call ${Math.round(waitMs)} ms, past its deadline; the call was not sent`;
  return new ClientRateLimitError(
    429,
    { message, type: 'client_rate_limit', code: `client_${reason}`, param: null },
    undefined,
    new Headers(),
  );
}

/**
 * Refused before sending: the API would have rejected the request with a 400.
 * A `BadRequestError`, with `param` and `code` as the API would set them;
 * no request was made.
 */
export class InvalidRequestError extends OpenAI.BadRequestError {
  override readonly name = 'InvalidRequestError';
}

export function invalidRequestError(problem: {
  param: string;
  message: string;
  code: string;
}): InvalidRequestError {
  return new InvalidRequestError(
    400,
    { message: problem.message, type: 'invalid_request_error', param: problem.param, code: problem.code },
    undefined,
    new Headers(),
  );
}

/** Which budget refused a call: its period, limit, what it has spent, and a per-tag budget's tag key. */
export interface SpentBudget {
  per: 'hour' | 'day' | 'month';
  limitUsd: number;
  spentUsd: number;
  /** A per-tag budget's key (its value, the caller's own data, is never in the error). */
  tag?: string;
  /** When the period ends and the budget allows calls again (UTC, ms since the epoch). */
  resetsAtMs: number;
}

/** Cents for sums of a cent or more; below that enough digits to show it is not zero ($0.000012). */
const dollars = (usd: number): string => (usd >= 0.01 ? usd.toFixed(2) : usd.toPrecision(2));

/**
 * A spend budget (`budget`) is spent for this period: the call was refused and
 * nothing was sent. A `RateLimitError` (status 429, code `budget_exceeded`), as
 * OpenAI's own spend limit (`insufficient_quota`) is; `budget` says which one.
 */
export class BudgetExceededError extends OpenAI.RateLimitError {
  override readonly name = 'BudgetExceededError';
  readonly budget: SpentBudget;
  constructor(budget: SpentBudget) {
    const whose = budget.tag ? ` for this call's value of tag "${budget.tag}"` : '';
    const message =
      `retryscope: the spend budget of $${budget.limitUsd} per ${budget.per} (UTC)${whose} is spent ` +
      `($${dollars(budget.spentUsd)} so far); it resets at ${new Date(budget.resetsAtMs).toISOString()}; the call was not sent`;
    super(
      429,
      { message, type: 'budget_exceeded', code: 'budget_exceeded', param: null },
      undefined,
      new Headers(),
    );
    this.budget = budget;
  }
}

/*
 * Dual-package safety. The CommonJS build (dist/cjs, for `require`) and the ESM
 * build each import the app's matching copy of openai, so these classes extend
 * the very SDK classes the app holds (see scripts/build.ts for why a build and
 * not classes made from the client's constructor). What remains is an app that
 * loads retryscope both ways (one module `import`s it, another `require`s it):
 * two copies of each class. So `instanceof` these classes goes by a brand that
 * both copies share, not by prototype; subclasses keep the ordinary check.
 */
const BRAND = Symbol.for('retryscope.error');

function brand(cls: abstract new (...args: never[]) => object, name: string): void {
  Object.defineProperty(cls.prototype, BRAND, { value: name });
  Object.defineProperty(cls, Symbol.hasInstance, {
    value(this: unknown, value: unknown): boolean {
      if (this !== cls) return Function.prototype[Symbol.hasInstance].call(this, value);
      return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === name;
    },
  });
}

brand(QuotaExhaustedError, 'QuotaExhaustedError');
brand(CircuitOpenError, 'CircuitOpenError');
brand(ClientRateLimitError, 'ClientRateLimitError');
brand(InvalidRequestError, 'InvalidRequestError');
brand(BudgetExceededError, 'BudgetExceededError');

export function isQuotaExhausted(error: unknown): error is QuotaExhaustedError {
  return error instanceof QuotaExhaustedError;
}

const HISTORY = 'retryscope';

/** The attempt history of an error thrown by an instrumented client, if it has one. */
export function getAttemptHistory(error: unknown): AttemptHistory | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  return (error as { [HISTORY]?: AttemptHistory })[HISTORY];
}

/**
 * Builds the error the caller receives: the SDK's own error (same class, so
 * `instanceof` code keeps working), promoted to `QuotaExhaustedError` for
 * quota exhaustion, with the attempt history attached as a non-enumerable
 * `retryscope` property so loggers that serialise errors are not flooded.
 */
export function finalizeError(error: unknown, history: AttemptHistory): unknown {
  let out = error;
  if (
    history.outcome === 'quota_exhausted' &&
    error instanceof OpenAI.APIError &&
    !(error instanceof QuotaExhaustedError)
  ) {
    const promoted = new QuotaExhaustedError(
      429,
      error.error as object,
      undefined,
      error.headers ?? new Headers(),
    );
    // Keep the SDK's own message and cause for mid-stream errors, whose status is undefined.
    promoted.message = error.message;
    (promoted as { cause?: unknown }).cause = error;
    out = promoted;
  }
  if (out !== null && typeof out === 'object' && Object.isExtensible(out)) {
    Object.defineProperty(out, HISTORY, { value: history, enumerable: false, configurable: true });
  }
  return out;
}
