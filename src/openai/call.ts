import { type Context, context as otelContext } from '@opentelemetry/api';
import OpenAI from 'openai';
import { Stream } from 'openai/core/streaming';
import type { ResolvedOptions } from '../options.ts';
import type { CircuitBreaker } from '../policy/circuit-breaker.ts';
import { classify } from '../policy/classify.ts';
import type { Clock } from '../policy/clock.ts';
import type { RateLimiter } from '../policy/limiter.ts';
import { parseRateLimitHeaders } from '../policy/ratelimit-headers.ts';
import { decide } from '../policy/retry-policy.ts';
import type { BackoffSource, Classification, ErrorCategory, Outcome } from '../policy/types.ts';
import { validateRequest } from '../policy/validate.ts';
import { redactUrl } from '../redact.ts';
import * as A from '../telemetry/attributes.ts';
import type { OperationRecord, PacingState, Telemetry } from '../telemetry/recorder.ts';
import {
  type AttemptSummary,
  CircuitOpenError,
  clientRateLimitError,
  finalizeError,
  invalidRequestError,
} from './errors.ts';
import {
  describeRequest,
  errorTypeOf,
  factsFromBody,
  failureFrom,
  inputContent,
  observeStreamItem,
  outputContent,
  pickHeaders,
  type RequestInfo,
  type ResponseFacts,
} from './extract.ts';
import { markServedBy } from './fallback-info.ts';
import type { ConsumeMode, ModeSink } from './operation-promise.ts';
import { circuitStateValue, estimateRequestTokens, type Pacing } from './pacing.ts';

// An attempt needs at least this long; a send slot later than deadline minus this is useless.
const MIN_ATTEMPT_MS = 50;

/** Remembers how the caller wants the result; the first wish wins. */
export class ModeBox implements ModeSink {
  mode: ConsumeMode | undefined;
  want(mode: ConsumeMode): void {
    this.mode ??= mode;
  }
}

/** What every call through one instrumented client shares. */
export interface ClientState {
  telemetry: Telemetry;
  options: ResolvedOptions;
  clock: Clock;
  random: () => number;
  server: { address?: string; port?: number };
  /** The SDK client that sends the requests (its own retries off). */
  client: OpenAI;
  /** Raw clones (retries off) of the fallbacks' own clients, by fallback position. */
  fallbackClients: (OpenAI | undefined)[];
  /** Limiters, retry budget and breakers, shared with sibling clients. */
  pacing: Pacing;
}

export type RequestOptions = Record<string, unknown> & {
  body?: unknown;
  signal?: AbortSignal | null;
  timeout?: number;
  maxRetries?: number;
  headers?: unknown;
};

/** One attempt: the SDK's own request, retries off, returning its `APIPromise`. */
export type Send = (options: RequestOptions) => PromiseLike<unknown> & {
  asResponse(): Promise<Response>;
};

/** A place the call can be served from: the primary (index 0) or a fallback. */
export interface Hop {
  index: number;
  /** The model this hop asks for. */
  model?: string;
  /** The client it sends through: its limiter and breakers are this client's. */
  client: OpenAI;
  send: Send;
}

/** What the loop hands back once an attempt succeeded. */
export interface Served {
  response: Response;
  /** Parsed data (or the wrapped stream); absent when the caller asked for the raw response. */
  data?: unknown;
  hasData: boolean;
  /** The successful attempt's own promise, to parse lazily in raw mode. */
  attempt?: PromiseLike<unknown>;
}

/** A hop that ended without serving the call. */
class HopFailed {
  readonly error: unknown;
  readonly outcome: Exclude<Outcome, 'success'>;
  constructor(error: unknown, outcome: Exclude<Outcome, 'success'>) {
    this.error = error;
    this.outcome = outcome;
  }
}

/**
 * One logical call: attempts on the primary, then on each fallback, waits
 * between them, and the telemetry of all of it. The policy decides; this
 * acts; the recorder records.
 */
export class Call {
  private readonly box: ModeBox;
  private readonly state: ClientState;
  private readonly options: RequestOptions;
  private readonly hops: Hop[];
  private readonly info: RequestInfo;
  private readonly op: OperationRecord;
  private readonly startedAt: number;
  private readonly maxAttempts: number;
  private readonly facts: ResponseFacts = {};
  private readonly history: AttemptSummary[] = [];
  private backoffTotalMs = 0;
  private queuedMs = 0;
  private budgetExhausted = false;
  /** The pacing state last read, for the operation span. */
  private pacingState: PacingState = {};
  private outputContent: string | undefined;
  /** Set once the call is served by a fallback or by `degrade`. */
  private served: { index: number; reason: Outcome; model?: string } | undefined;

  constructor(
    state: ClientState,
    method: string,
    path: string,
    options: RequestOptions,
    hops: Hop[],
    parent: Context,
    box: ModeBox,
  ) {
    this.box = box;
    this.state = state;
    this.options = options;
    this.hops = hops;
    this.startedAt = state.clock.now();
    this.info = describeRequest(method, path, options.body);
    // A per-call `maxRetries` (the SDK's own, typed, option) means the same to us: attempts = retries + 1.
    this.maxAttempts =
      typeof options.maxRetries === 'number' && options.maxRetries >= 0
        ? Math.floor(options.maxRetries) + 1
        : state.options.maxAttempts;
    const info = this.info;
    this.op = state.telemetry.startOperation(
      {
        operationName: info.operationName,
        api: info.api,
        ...(info.model ? { requestModel: info.model } : {}),
        ...(state.server.address ? { serverAddress: state.server.address } : {}),
        ...(state.server.port ? { serverPort: state.server.port } : {}),
        stream: info.stream,
        ...(state.options.deadlineMs !== undefined ? { deadlineMs: state.options.deadlineMs } : {}),
        ...(state.options.captureContent ? { inputContent: inputContent(options.body) } : {}),
      },
      parent,
    );
  }

  /** Serves the call from the first hop that can, or rejects with the caller's error. */
  async run(): Promise<Served> {
    const { fallbackOn, degrade, validate } = this.state.options;
    if (validate) {
      // A request the API can only reject costs no round trip, no rate-limit slot and no attempt span.
      const problem = validateRequest(this.info.api, this.options.body, validate);
      if (problem) throw this.fail(invalidRequestError(problem), 'invalid_request');
    }
    let last: HopFailed | undefined;
    for (const hop of this.hops) {
      if (last && (!fallbackOn.includes(last.outcome) || this.deadlineLeft() <= 0)) break;
      try {
        if (last)
          this.served = {
            index: hop.index,
            reason: last.outcome,
            ...(hop.model ? { model: hop.model } : {}),
          };
        return await this.runHop(hop);
      } catch (error) {
        if (!(error instanceof HopFailed)) throw error;
        this.served = undefined;
        last = error;
        if (last.outcome === 'aborted') break;
      }
    }
    if (!last) throw new Error('retryscope: a call with no hop to send it to');
    if (degrade && fallbackOn.includes(last.outcome)) return this.degrade(degrade, last);
    throw this.fail(last.error, last.outcome);
  }

  /** The last resort: the user's `degrade` answers instead of the API. */
  private async degrade(degrade: NonNullable<ResolvedOptions['degrade']>, last: HopFailed): Promise<Served> {
    const error = this.finalize(last.error, last.outcome);
    let value: unknown;
    try {
      value = await degrade({ error, request: this.options.body, outcome: last.outcome });
    } catch {
      // A degrade that fails must not hide the real error.
      this.finish(last.outcome, errorTypeOf(last.error));
      throw error;
    }
    this.served = { index: this.hops.length, reason: last.outcome };
    const data = this.info.stream ? cannedStream(value, this.state.client) : value;
    const response = new Response(JSON.stringify(value ?? null), {
      status: 200,
      headers: { 'content-type': 'application/json', 'x-retryscope-degraded': 'true' },
    });
    markServedBy(data, { fallbackIndex: this.served.index, reason: last.outcome, degraded: true });
    markServedBy(response, { fallbackIndex: this.served.index, reason: last.outcome, degraded: true });
    this.finish('fallback');
    return { response, data, hasData: true };
  }

  /** Attempts on one hop until one succeeds or the policy stops. */
  private async runHop(hop: Hop): Promise<Served> {
    const { clock, options, pacing } = this.state;
    const model = hop.model ?? this.info.model;
    const limiter = pacing.limiter(hop.client);
    const breaker = pacing.breaker(hop.client, model);
    const tokens = limiter ? estimateRequestTokens(this.options.body) : 0;
    let backoffMs = 0;
    let source: BackoffSource = 'none';
    let previousDelayMs: number | undefined;
    let retriedFor: ErrorCategory | undefined;
    for (let attempt = 1; ; attempt++) {
      // Aborted before it could be sent: no request, so no attempt span.
      if (this.options.signal?.aborted) throw new HopFailed(new OpenAI.APIUserAbortError(), 'aborted');
      if (breaker && !breaker.allow(clock.now())) {
        this.op.recordRejected('circuit_open');
        const where = `${redactUrl(hop.client.baseURL)}${model ? ` (${model})` : ''}`;
        throw new HopFailed(
          new CircuitOpenError({
            message: `retryscope: the circuit for ${where} is open after repeated failures; the call was not sent`,
          }),
          'circuit_open',
        );
      }
      const queued = limiter ? await this.waitForSlot(limiter, tokens) : undefined;
      // Time in the limiter before a retry is part of that retry's wait; before the first attempt it is queueing.
      if (attempt > 1 && queued) {
        backoffMs += queued.waitedMs;
        this.backoffTotalMs += queued.waitedMs;
      }
      const attemptStarted = clock.now();
      const record = this.op.startAttempt({
        attempt,
        backoffMs,
        backoffSource: source,
        ...(hop.model ? { requestModel: hop.model } : {}),
        fallbackIndex: hop.index,
      });
      const summary = (status?: number, headers: Record<string, string> = {}) =>
        this.remember(hop, attempt, attemptStarted, backoffMs, source, status, headers);
      const feedback = (headers: Record<string, string>) => {
        const headroom = parseRateLimitHeaders(headers);
        if (limiter && Object.keys(headroom).length > 0)
          limiter.observe(clock.now(), headroom, queued?.ticket);
        return headroom;
      };
      let status: number | undefined;
      let headers: Record<string, string> = {};
      try {
        const pending = otelContext.with(record.context, () => hop.send(this.attemptOptions(attempt, hop)));
        const response = await pending.asResponse();
        status = response.status;
        headers = pickHeaders(response.headers);
        const ok = {
          status,
          ...(headers['x-request-id'] ? { requestId: headers['x-request-id'] } : {}),
          headroom: feedback(headers),
        };
        return await this.consume(
          pending,
          response,
          () => {
            const now = clock.now();
            limiter?.onSuccess(now);
            breaker?.onSuccess(now);
            pacing.budget?.onSuccess(retriedFor);
            record.end({ outcome: 'success', ...ok });
            summary(status, headers);
            this.recordPacing(limiter, breaker, model);
          },
          (error) => {
            // An error inside a stream after chunks were delivered ends this attempt, never retried.
            const classification = classify(failureFrom(error, true));
            record.end({ outcome: 'failed', ...ok, errorType: errorTypeOf(error), classification });
            summary(status, headers).fail(error, classification);
            return this.fail(error, classification.quotaExhausted ? 'quota_exhausted' : 'non_retryable');
          },
        );
      } catch (error) {
        if (error instanceof HopFailed) throw error;
        const failure = failureFrom(error);
        const classification = classify(failure);
        const now = clock.now();
        let decision = decide(
          failure,
          classification,
          {
            attempt: Math.min(attempt, this.maxAttempts),
            elapsedMs: now - this.startedAt,
            ...(previousDelayMs !== undefined ? { previousDelayMs } : {}),
          },
          { ...options, maxAttempts: this.maxAttempts },
          { nowMs: now, random: this.state.random },
        );
        // A timeout cut short by the deadline is the deadline's doing, not the server's.
        if (classification.category === 'timeout' && this.deadlineLeft() <= 0) {
          decision = { retry: false, outcome: 'deadline_exceeded' };
        }
        // An outage must not multiply load: past the budget, failures are returned, not retried.
        if (decision.retry && pacing.budget && !pacing.budget.tryAcquire(classification.category)) {
          decision = { retry: false, outcome: 'retries_exhausted' };
          this.budgetExhausted = true;
        }
        const failedHeaders = failure.headers ?? headers;
        const failedStatus = failure.status ?? status;
        const headroom = feedback(failedHeaders);
        if (classification.category === 'rate_limited')
          // Everyone waits as the server asked, but never longer than this client is willing to wait.
          limiter?.onThrottle(now, capWait(decision.retryAfterMs, options.maxRetryAfterMs), queued?.ticket);
        breaker?.onFailure(now, classification.category);
        record.end({
          outcome: decision.retry ? 'retried' : 'failed',
          ...(failedStatus !== undefined ? { status: failedStatus } : {}),
          errorType: errorTypeOf(error),
          classification,
          ...(failedHeaders['x-request-id'] ? { requestId: failedHeaders['x-request-id'] } : {}),
          headroom,
          ...(decision.retryAfterMs !== undefined ? { retryAfterMs: decision.retryAfterMs } : {}),
        });
        summary(failedStatus, failedHeaders).fail(error, classification);
        this.recordPacing(limiter, breaker, model);
        if (!decision.retry) throw new HopFailed(error, decision.outcome);

        // With a limiter, a 429's wait is the limiter's: it pauses every caller until the server's time.
        const sleepMs = limiter && classification.category === 'rate_limited' ? 0 : decision.delayMs;
        this.op.recordBackoff(decision.delayMs, decision.source, classification.category, hop.model);
        try {
          if (sleepMs > 0) await clock.sleep(sleepMs, this.options.signal);
        } catch {
          throw new HopFailed(new OpenAI.APIUserAbortError(), 'aborted');
        }
        this.backoffTotalMs += sleepMs;
        backoffMs = sleepMs;
        source = decision.source;
        previousDelayMs = decision.delayMs;
        retriedFor = classification.category;
      }
    }
  }

  /**
   * Waits in the client-side limiter for a send slot. Refuses at once (nothing
   * sent) when the queue is full or the slot would come after the deadline.
   */
  private async waitForSlot(
    limiter: RateLimiter,
    tokens: number,
  ): Promise<{ ticket: number; waitedMs: number }> {
    const { clock } = this.state;
    const started = clock.now();
    const deadline = this.state.options.deadlineMs;
    const deadlineAt = deadline === undefined ? undefined : this.startedAt + deadline - MIN_ATTEMPT_MS;
    let slot = limiter.reserve(started, tokens, deadlineAt);
    if (!slot.ok) {
      const outcome = slot.reason === 'queue_full' ? 'queue_full' : 'deadline_exceeded';
      this.op.recordRejected(outcome);
      throw new HopFailed(clientRateLimitError(slot.reason, slot.waitMs), outcome);
    }
    const ticket = slot.ticket;
    while (slot.ok && slot.waitMs > 0) {
      try {
        await clock.sleep(slot.sleepMs, this.options.signal);
      } catch {
        limiter.release(clock.now(), ticket);
        throw new HopFailed(new OpenAI.APIUserAbortError(), 'aborted');
      }
      slot = limiter.confirm(clock.now(), ticket);
    }
    if (!slot.ok) {
      this.op.recordRejected('deadline_exceeded');
      throw new HopFailed(clientRateLimitError('deadline', slot.waitMs), 'deadline_exceeded');
    }
    const waitedMs = clock.now() - started;
    this.queuedMs += waitedMs;
    return { ticket, waitedMs };
  }

  /** Reads the limiter, budget and breaker after an attempt: gauges now, span attributes at the end. */
  private recordPacing(
    limiter: RateLimiter | undefined,
    breaker: CircuitBreaker | undefined,
    model?: string,
  ): void {
    const now = this.state.clock.now();
    const snapshot = limiter?.snapshot(now);
    this.pacingState = {
      ...(model ? { model } : {}),
      ...(snapshot ? { queueDepth: snapshot.queueDepth, ratePerSec: snapshot.ratePerSec } : {}),
      ...(this.state.pacing.budget ? { budgetRemaining: this.state.pacing.budget.remaining() } : {}),
      ...(breaker ? { circuitState: circuitStateValue(breaker.state(now)) } : {}),
    };
    this.op.recordPacing(this.pacingState);
  }

  /**
   * Reads the successful attempt the way the caller wants it, so that a body
   * that fails to arrive or parse still counts against that attempt.
   */
  private async consume(
    pending: PromiseLike<unknown>,
    response: Response,
    succeeded: () => void,
    failedMidStream: (error: unknown) => unknown,
  ): Promise<Served> {
    if ((this.box.mode ?? 'parsed') === 'raw') {
      succeeded();
      this.markAndFinish(response);
      return { response, hasData: false, attempt: pending };
    }
    const data = await pending;
    if (this.info.stream && data instanceof Stream) {
      const stream = await this.watchStream(data, succeeded, failedMidStream);
      this.markServed(stream);
      this.markServed(response);
      return { response, data: stream, hasData: true, attempt: pending };
    }
    Object.assign(this.facts, factsFromBody(data));
    if (this.state.options.captureContent) this.outputContent = outputContent(data);
    succeeded();
    this.markServed(data);
    this.markAndFinish(response);
    return { response, data, hasData: true, attempt: pending };
  }

  private markAndFinish(response: Response): void {
    this.markServed(response);
    this.finish(this.served ? 'fallback' : 'success');
  }

  private markServed(target: unknown): void {
    if (!this.served) return;
    markServedBy(target, {
      fallbackIndex: this.served.index,
      reason: this.served.reason,
      degraded: false,
      ...(this.served.model ? { model: this.served.model } : {}),
    });
  }

  /**
   * Reads the first stream item inside the attempt, so a failure before any
   * chunk is retried like any other (and may still fall back); once a chunk is
   * delivered, nothing is. The attempt and operation spans end with the stream.
   */
  private async watchStream(
    stream: Stream<unknown>,
    succeeded: () => void,
    failedMidStream: (error: unknown) => unknown,
  ): Promise<Stream<unknown>> {
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    let text = '';
    let settled = false;
    const capture = this.state.options.captureContent;
    const observe = (item: unknown) => {
      const delta = observeStreamItem(this.facts, item);
      if (capture && delta) text += delta;
    };
    const settle = (error?: unknown): unknown => {
      if (settled) return error;
      settled = true;
      if (capture && text) this.outputContent = JSON.stringify([{ role: 'assistant', content: text }]);
      if (error !== undefined) return failedMidStream(error);
      succeeded();
      this.finish(this.served ? 'fallback' : 'success');
      return undefined;
    };
    return new Stream(
      async function* () {
        try {
          if (!first.done) {
            observe(first.value);
            yield first.value;
          }
          while (true) {
            const next = await iterator.next();
            if (next.done) break;
            observe(next.value);
            yield next.value;
          }
          settle();
        } catch (error) {
          throw settle(error);
        } finally {
          // The caller stopped early (break, return): the call succeeded as far as it went.
          if (!settled) {
            settle();
            await iterator.return?.();
          }
        }
      },
      stream.controller,
      this.state.client,
    );
  }

  private attemptOptions(attempt: number, hop: Hop): RequestOptions {
    const left = this.deadlineLeft();
    const timeout = this.options.timeout ?? this.state.client.timeout;
    const body = this.options.body;
    return {
      ...this.options,
      ...(hop.index > 0 && hop.model && isObject(body) ? { body: { ...body, model: hop.model } } : {}),
      maxRetries: 0,
      ...(Number.isFinite(left) ? { timeout: Math.max(1, Math.min(timeout, left)) } : {}),
      // Tell the server which retry this is, as the SDK itself does.
      headers: withRetryCount(this.options.headers, attempt - 1),
    };
  }

  private deadlineLeft(): number {
    const deadline = this.state.options.deadlineMs;
    return deadline === undefined ? Infinity : deadline - (this.state.clock.now() - this.startedAt);
  }

  /** Adds an attempt to the history the caller's error will carry. */
  private remember(
    hop: Hop,
    attempt: number,
    startedAt: number,
    backoffMs: number,
    backoffSource: BackoffSource,
    status: number | undefined,
    headers: Record<string, string>,
  ) {
    const entry: AttemptSummary = {
      attempt,
      fallbackIndex: hop.index,
      ...(hop.model ? { model: hop.model } : {}),
      ...(status !== undefined ? { status } : {}),
      ...(headers['x-request-id'] ? { requestId: headers['x-request-id'] } : {}),
      backoffMs,
      backoffSource,
      durationMs: this.state.clock.now() - startedAt,
    };
    this.history.push(entry);
    return {
      fail(error: unknown, classification: Classification) {
        entry.errorType = errorTypeOf(error);
        entry.category = classification.category;
        if (classification.code) entry.code = classification.code;
      },
    };
  }

  private finish(outcome: Outcome, errorType?: string): void {
    const pacing = this.state.pacing;
    this.op.end({
      outcome,
      ...(this.state.options.limiter !== false ? { queuedMs: this.queuedMs } : {}),
      extra: {
        ...(pacing.budget ? { [A.ATTR_RETRY_BUDGET_REMAINING]: pacing.budget.remaining() } : {}),
        ...(this.budgetExhausted ? { [A.ATTR_RETRY_BUDGET_EXHAUSTED]: true } : {}),
        ...(this.pacingState.circuitState !== undefined
          ? { [A.ATTR_CIRCUIT_STATE]: this.pacingState.circuitState }
          : {}),
        ...(this.pacingState.queueDepth !== undefined
          ? { [A.ATTR_QUEUE_DEPTH]: this.pacingState.queueDepth }
          : {}),
        ...(Number.isFinite(this.pacingState.ratePerSec)
          ? { [A.ATTR_LIMITER_RATE]: this.pacingState.ratePerSec }
          : {}),
      },
      attempts: this.history.length,
      backoffTotalMs: this.backoffTotalMs,
      ...(errorType ? { errorType } : {}),
      ...this.facts,
      ...(this.outputContent ? { outputContent: this.outputContent } : {}),
      ...(this.served
        ? {
            fallbackIndex: this.served.index,
            fallbackReason: this.served.reason,
            ...(this.served.model ? { servedModel: this.served.model } : {}),
          }
        : {}),
    });
  }

  /** Ends the call with this error: the caller's error, with its history, and the operation span. */
  private fail(error: unknown, outcome: Exclude<Outcome, 'success'>): unknown {
    const final = this.finalize(error, outcome);
    this.finish(outcome, errorTypeOf(error));
    return final;
  }

  private finalize(error: unknown, outcome: Exclude<Outcome, 'success'>): unknown {
    return finalizeError(error, {
      outcome,
      attempts: this.history.length,
      totalBackoffMs: Math.round(this.backoffTotalMs),
      history: this.history,
    });
  }
}

/** A degraded answer for a streaming call: the canned value (or values) as a stream. */
function cannedStream(value: unknown, client: OpenAI): Stream<unknown> {
  const items = Array.isArray(value) ? value : [value];
  return new Stream(
    async function* () {
      yield* items;
    },
    new AbortController(),
    client,
  );
}

function capWait(ms: number | undefined, maxMs: number): number | undefined {
  return ms === undefined ? undefined : Math.min(ms, maxMs);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Adds the SDK's own retry-count header when the caller's headers are a plain object (or absent). */
function withRetryCount(headers: unknown, retries: number): unknown {
  if (headers == null) return { 'x-stainless-retry-count': String(retries) };
  if (Object.getPrototypeOf(headers) === Object.prototype) {
    return { ...(headers as object), 'x-stainless-retry-count': String(retries) };
  }
  return headers;
}
