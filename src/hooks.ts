/**
 * Live hooks: the user's callbacks, told the same facts the spans record, as
 * they happen. A CallObserver wrapping the telemetry's, so the attempt loop
 * knows nothing of them. Guarded like telemetry: a hook that throws or rejects
 * never changes what the caller gets, and is reported once as a warning.
 */
import type {
  AttemptEnded,
  AttemptObserver,
  AttemptStarted,
  CallObserver,
  HopSkipped,
  OperationEnded,
  Paced,
  ServedBy,
  Waited,
} from './observer.ts';
import type { RateLimitHeadroom } from './policy/ratelimit-headers.ts';
import type {
  AttemptOutcome,
  BackoffSource,
  Classification,
  ErrorCategory,
  FailureOutcome,
  Outcome,
} from './policy/types.ts';
import { reportOnce } from './telemetry/safely.ts';

/** What every hook is told about the call it belongs to. */
export interface HookCall {
  /** `chat`, `embeddings`, ... (`gen_ai.operation.name`). */
  operationName: string;
  /** The model the caller asked for. */
  requestModel?: string;
}

/** An attempt, ended: what its attempt span says. */
export interface AttemptEvent extends HookCall {
  /** 1-based, per hop. */
  attempt: number;
  /** The hop that made it: 0 the primary, 1.. the fallback at that position. */
  fallbackIndex: number;
  /** The model this attempt asked for. */
  model?: string;
  outcome: AttemptOutcome;
  /** The HTTP status, when a response arrived. */
  status?: number;
  /** The SDK error class (`RateLimitError`, ...); absent on success. */
  errorType?: string;
  /** How the policy saw the failure: category, retryable, quota, the provider's code. */
  classification?: Classification;
  /** The wait before this attempt, as it happened, and who set it (`none` on a hop's first). */
  backoffMs: number;
  backoffSource: BackoffSource;
  /** `x-request-id`. */
  requestId?: string;
  /** What the `x-ratelimit-*` headers said. */
  headroom?: RateLimitHeadroom;
  /** The server's requested wait, when it sent one. */
  retryAfterMs?: number;
}

/** A retry, about to be sent: the wait is over. */
export interface RetryEvent extends HookCall {
  /** The attempt about to be sent (2.. on its hop). */
  attempt: number;
  fallbackIndex: number;
  model?: string;
  /** What was waited since the failed attempt (the policy's sleep and the limiter's hold together). */
  waitMs: number;
  /** Who set that wait: the server's hint, the backoff, or the limiter. */
  waitSource: BackoffSource;
  /** Why the failed attempt is retried. */
  reason: ErrorCategory;
}

/** The call moves on to a fallback. */
export interface FallbackEvent extends HookCall {
  /** The fallback now tried, 1-based. */
  fallbackIndex: number;
  model?: string;
  /** Why the hop before it gave up. */
  reason: Outcome;
}

/** The call failed: what the caller gets. */
export interface GiveUpEvent extends HookCall {
  outcome: FailureOutcome;
  /** The error the caller gets, its attempt history attached (absent when a stream simply ends, on abort). */
  error?: unknown;
  errorType?: string;
  /** HTTP attempts in all hops. */
  attempts: number;
  backoffTotalMs: number;
}

/**
 * Callbacks told each fact as it happens. Synchronous notifications: a returned
 * promise is not awaited, and a throw or a rejection is reported once per hook
 * (a `RETRYSCOPE_HOOK` process warning), never passed to the caller.
 */
export interface RetryscopeHooks {
  /**
   * Each attempt, as it ends.
   * @default undefined
   */
  onAttempt?: (event: AttemptEvent) => unknown;
  /**
   * Each retry, once its wait is over, just before it is sent.
   * @default undefined
   */
  onRetry?: (event: RetryEvent) => unknown;
  /**
   * Each move to a fallback, before its first attempt.
   * @default undefined
   */
  onFallback?: (event: FallbackEvent) => unknown;
  /**
   * The call failed (every outcome but `success` and `fallback`).
   * @default undefined
   */
  onGiveUp?: (event: GiveUpEvent) => unknown;
}

/** `observer`, telling `hooks` too; `observer` itself when there are none. */
export function withHooks(
  observer: CallObserver,
  hooks: RetryscopeHooks | undefined,
  call: HookCall,
): CallObserver {
  if (!hooks || !Object.values(hooks).some((hook) => typeof hook === 'function')) return observer;
  return new HookedCall(observer, hooks, call);
}

class HookedCall implements CallObserver {
  private readonly inner: CallObserver;
  private readonly hooks: RetryscopeHooks;
  private readonly call: HookCall;
  /** The last attempt started: a wait comes between it and its retry. */
  private last: AttemptStarted | undefined;
  private done = false;

  constructor(inner: CallObserver, hooks: RetryscopeHooks, call: HookCall) {
    this.inner = inner;
    this.hooks = hooks;
    this.call = { ...call };
  }

  attemptStarted(start: AttemptStarted): AttemptObserver {
    this.last = start;
    const attempt = this.inner.attemptStarted(start);
    return {
      run: (send) => attempt.run(send),
      ended: (end) => {
        attempt.ended(end);
        notify('onAttempt', this.hooks.onAttempt, () => this.attemptEvent(start, end));
      },
    };
  }

  waited(fact: Waited): void {
    this.inner.waited(fact);
    const last = this.last;
    notify('onRetry', this.hooks.onRetry, () => ({
      ...this.call,
      attempt: (last?.attempt ?? 0) + 1,
      fallbackIndex: last?.fallbackIndex ?? 0,
      ...model(last?.requestModel ?? this.call.requestModel),
      waitMs: fact.ms,
      waitSource: fact.source,
      reason: fact.reason,
    }));
  }

  hopChanged(fact: ServedBy): void {
    this.inner.hopChanged(fact);
    notify('onFallback', this.hooks.onFallback, () => ({
      ...this.call,
      fallbackIndex: fact.index,
      ...model(fact.model ?? this.call.requestModel),
      reason: fact.reason,
    }));
  }

  hopSkipped(fact: HopSkipped): void {
    this.inner.hopSkipped(fact);
  }

  paced(fact: Paced): void {
    this.inner.paced(fact);
  }

  refused(outcome: Outcome, bucket?: string): void {
    this.inner.refused(outcome, bucket);
  }

  storeFellBack(bucket?: string): void {
    this.inner.storeFellBack(bucket);
  }

  ended(end: OperationEnded): void {
    this.inner.ended(end);
    if (this.done) return;
    this.done = true;
    const outcome = end.outcome;
    if (outcome === 'success' || outcome === 'fallback') return;
    notify('onGiveUp', this.hooks.onGiveUp, () => ({
      ...this.call,
      outcome,
      ...(end.error !== undefined ? { error: end.error } : {}),
      ...(end.errorType !== undefined ? { errorType: end.errorType } : {}),
      attempts: end.attempts,
      backoffTotalMs: end.backoffTotalMs,
    }));
  }

  private attemptEvent(start: AttemptStarted, end: AttemptEnded): AttemptEvent {
    // Copies: a hook that edits its event cannot reach the history the caller's error carries.
    return {
      ...this.call,
      attempt: start.attempt,
      fallbackIndex: start.fallbackIndex,
      ...model(start.requestModel ?? this.call.requestModel),
      outcome: end.outcome,
      ...(end.status !== undefined ? { status: end.status } : {}),
      ...(end.errorType !== undefined ? { errorType: end.errorType } : {}),
      ...(end.classification ? { classification: { ...end.classification } } : {}),
      backoffMs: start.backoffMs,
      backoffSource: start.backoffSource,
      ...(end.requestId !== undefined ? { requestId: end.requestId } : {}),
      ...(end.headroom ? { headroom: { ...end.headroom } } : {}),
      ...(end.retryAfterMs !== undefined ? { retryAfterMs: end.retryAfterMs } : {}),
    };
  }
}

function model(name: string | undefined): { model?: string } {
  return name === undefined ? {} : { model: name };
}

/** Calls `hook` with the event `make` builds; nothing it does reaches the call. */
function notify<E>(name: string, hook: ((event: E) => unknown) | undefined, make: () => E): void {
  if (typeof hook !== 'function') return;
  try {
    const returned = hook(make());
    if (returned !== null && typeof (returned as { then?: unknown } | undefined)?.then === 'function')
      Promise.resolve(returned).catch((error: unknown) => warn(name, hook, error));
  } catch (error) {
    warn(name, hook, error);
  }
}

function warn(name: string, hook: object, error: unknown): void {
  reportOnce(
    hook,
    error,
    (detail) => `retryscope: hook ${name} failed (${detail}); the call itself is unaffected`,
    'RETRYSCOPE_HOOK',
  );
}
