import { type Context, context as otelContext } from '@opentelemetry/api';
import OpenAI from 'openai';
import { Stream } from 'openai/core/streaming';
import type { CallObserver } from '../observer.ts';
import type { ResolvedOptions } from '../options.ts';
import type { CircuitBreaker } from '../policy/circuit-breaker.ts';
import { classify } from '../policy/classify.ts';
import type { Clock } from '../policy/clock.ts';
import { Deadline } from '../policy/deadline.ts';
import type { RateLimiter } from '../policy/limiter.ts';
import { parseRateLimitHeaders } from '../policy/ratelimit-headers.ts';
import { type StreamWait, streamWait } from '../policy/stream-timing.ts';
import type { BackoffSource, Classification, ErrorCategory, Outcome } from '../policy/types.ts';
import { validateRequest } from '../policy/validate.ts';
import {
  afterFailure,
  afterStreamFailure,
  attemptLimit,
  creditWait,
  fallsBack,
  type RetryWait,
  refusalOutcome,
} from '../policy/verdict.ts';
import { redactUrl } from '../redact.ts';
import type { Telemetry } from '../telemetry/recorder.ts';
import {
  type AttemptSummary,
  CircuitOpenError,
  clientRateLimitError,
  finalizeError,
  getAttemptHistory,
  invalidRequestError,
  QuotaExhaustedError,
} from './errors.ts';
import {
  describeRequest,
  errorTypeOf,
  factsFromBody,
  inputContent,
  observeStreamItem,
  outputContent,
  pickHeaders,
  type RequestInfo,
  type ResponseFacts,
} from './extract.ts';
import { markServedBy } from './fallback-info.ts';
import type { ConsumeMode, ModeSink } from './operation-promise.ts';
import { type BucketLimiter, estimateRequestTokens, type Pacing } from './pacing.ts';
import { defaultHeadersOf, hasStreamingBody, sdkRetries, withRetryCount } from './sdk-options.ts';
import { failureOf } from './transport.ts';

// setTimeout fires at once beyond this (2^31 - 1 ms, about 24.8 days): a longer wait needs no timer.
const MAX_TIMER_MS = 2_147_483_647;

const DEADLINE = Symbol('deadline');
const ABORTED = Symbol('aborted');

/** Timeouts that the call's deadline, not the attempt's timeout, caused. */
const deadlineErrors = new WeakSet<object>();

function streamTimeoutError(limit: StreamWait, deadlineMs: number | undefined): Error {
  const message =
    limit.cause === 'deadline'
      ? `retryscope: the call's deadline of ${deadlineMs} ms passed while waiting for a stream chunk`
      : `retryscope: no stream ${limit.cause === 'first_chunk' ? 'chunk' : 'chunk after the last one'} within the request timeout`;
  const error = new OpenAI.APIConnectionTimeoutError({ message });
  if (limit.cause === 'deadline') deadlineErrors.add(error);
  return error;
}

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

/** How a successful attempt ends, once its body (or its stream) is done. */
interface LiveAttempt {
  succeeded(): void;
  /** Ends the attempt and the call with this error; returns the error the caller gets. */
  failed(error: unknown): unknown;
  /** The caller aborted while reading. */
  aborted(): void;
}

/** What the stream handed to the caller reads from. */
type StreamSource =
  | {
      kind: 'live';
      first: IteratorResult<unknown>;
      iterator: AsyncIterator<unknown>;
      stream: Stream<unknown>;
      attempt: LiveAttempt;
    }
  | { kind: 'canned'; items: unknown[] };

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
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
  private readonly method: string;
  private readonly path: string;
  private readonly options: RequestOptions;
  private readonly hops: Hop[];
  private readonly info: RequestInfo;
  private readonly observer: CallObserver;
  private readonly deadline: Deadline;
  private readonly maxAttempts: number;
  private readonly facts: ResponseFacts = {};
  private readonly history: AttemptSummary[] = [];
  private backoffTotalMs = 0;
  private queuedMs = 0;
  private budgetExhausted = false;
  /** Which limiter paced the last attempt: the fleet's (Redis), its own, or its own as a fallback. */
  private storeMode: 'redis' | 'local' | 'local-fallback' | undefined;
  private quotaFromFleet = false;
  private outputContent: string | undefined;
  /** Set once the call is served by a fallback or by `degrade`. */
  private served: { index: number; reason: Outcome; model?: string } | undefined;
  /** A streaming call: `stream: true`, read chunk by chunk. */
  private readonly isStream: boolean;
  /** The caller's signal, joined for a stream by the controller of the stream handed out. */
  private readonly signal: AbortSignal | undefined;
  /** The controller of the stream handed to the caller (`stream.controller.abort()` cancels the call). */
  private readonly streamController: AbortController | undefined;
  /** The stream handed to the caller once the first attempt's headers arrived. */
  private handle: Stream<unknown> | undefined;
  /** Settles the caller's promise. */
  private deliver: ((served: Served) => void) | undefined;
  /** What the handed-out stream reads: the first attempt to get a chunk, or a degraded answer. */
  private readonly source = deferred<StreamSource>();

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
    this.method = method;
    this.path = path;
    this.options = options;
    // A streamed request body is read by the first send; nothing can send it again, so it
    // gets one attempt on one hop, as the SDK never retries it either.
    const replayable = !hasStreamingBody(options.body);
    this.hops = replayable ? hops : hops.slice(0, 1);
    this.deadline = new Deadline(state.clock.now(), state.options.deadlineMs);
    this.info = describeRequest(method, path, options.body);
    // The SDK's own flag: set by create({ stream: true }) and by retrieve(id, { stream: true }) alike.
    this.isStream = options.stream === true || this.info.stream;
    if (this.isStream) {
      this.streamController = new AbortController();
      const own = this.streamController.signal;
      this.signal = options.signal ? AbortSignal.any([options.signal, own]) : own;
    } else {
      this.signal = options.signal ?? undefined;
    }
    this.source.promise.catch(() => {});
    this.maxAttempts = attemptLimit({
      replayable,
      maxRetries: sdkRetries(options.maxRetries),
      maxAttempts: state.options.maxAttempts,
    });
    const info = this.info;
    this.observer = state.telemetry.startOperation(
      {
        operationName: info.operationName,
        api: info.api,
        ...(info.model ? { requestModel: info.model } : {}),
        ...(state.server.address ? { serverAddress: state.server.address } : {}),
        ...(state.server.port ? { serverPort: state.server.port } : {}),
        stream: this.isStream,
        ...(state.options.deadlineMs !== undefined ? { deadlineMs: state.options.deadlineMs } : {}),
        ...(state.options.captureContent ? { inputContent: inputContent(options.body) } : {}),
      },
      parent,
    );
  }

  /**
   * Settles when the SDK's own promise would: with the data once an attempt is read, with a
   * stream as soon as an attempt's headers say 200 (the first chunk is read, and a failure
   * before it retried, behind the stream's iterator), or with the caller's error.
   */
  run(): Promise<Served> {
    return new Promise<Served>((resolve, reject) => {
      this.deliver = resolve;
      this.serve().then(
        (served) => {
          if (!this.handle) resolve(served);
        },
        (error: unknown) => {
          // Once the stream is handed out, the error surfaces inside the caller's `for await`.
          if (this.handle) this.source.reject(error);
          else reject(error);
        },
      );
    });
  }

  /** Serves the call from the first hop that can, or rejects with the caller's error. */
  private async serve(): Promise<Served> {
    const { fallbackOn, degrade, validate } = this.state.options;
    if (validate) {
      // A request the API can only reject costs no round trip, no rate-limit slot and no attempt span.
      const problem = await validateRequest(
        { method: this.method, path: this.path, body: this.options.body },
        validate,
      );
      if (problem) throw this.fail(invalidRequestError(problem), 'invalid_request');
    }
    let last: HopFailed | undefined;
    for (const hop of this.hops) {
      if (last && !fallsBack(last.outcome, fallbackOn, this.deadlineLeft())) break;
      try {
        if (last) {
          this.served = { index: hop.index, reason: last.outcome, model: hop.model };
          this.observer.hopChanged(this.served);
        }
        return await this.runHop(hop);
      } catch (error) {
        if (!(error instanceof HopFailed)) throw error;
        this.served = undefined;
        last = error;
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
      value = await this.bounded(() => degrade({ error, request: this.options.body, outcome: last.outcome }));
    } catch (cut) {
      // A degrade that fails, outlives the deadline or is aborted must not hide the real error.
      const outcome = cut === DEADLINE ? 'deadline_exceeded' : cut === ABORTED ? 'aborted' : last.outcome;
      throw this.fail(last.error, outcome);
    }
    this.served = { index: this.hops.length, reason: last.outcome };
    const served = { fallbackIndex: this.served.index, reason: last.outcome, degraded: true };
    if (this.handle) {
      // The stream is already in the caller's hands: it yields the canned chunks.
      markServedBy(this.handle, served);
      this.source.resolve({ kind: 'canned', items: Array.isArray(value) ? value : [value] });
      this.finish('fallback');
      return { response: new Response(null), hasData: false };
    }
    const data = this.isStream ? cannedStream(value, this.state.client) : value;
    const response = new Response(JSON.stringify(value ?? null), {
      status: 200,
      headers: { 'content-type': 'application/json', 'x-retryscope-degraded': 'true' },
    });
    markServedBy(data, served);
    markServedBy(response, served);
    this.finish('fallback');
    return { response, data, hasData: true };
  }

  /** Runs `work` (the caller's own code) but gives up on it at the deadline or the caller's abort. */
  private bounded<T>(work: () => T | Promise<T>): Promise<T> {
    const left = this.deadlineLeft();
    const signal = this.signal;
    return new Promise<T>((resolve, reject) => {
      const timer = left <= MAX_TIMER_MS ? setTimeout(() => reject(DEADLINE), Math.max(0, left)) : undefined;
      const onAbort = () => reject(ABORTED);
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      Promise.resolve()
        .then(work)
        .then(resolve, reject)
        .finally(() => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        });
    });
  }

  /** Attempts on one hop until one succeeds or the policy stops. */
  private async runHop(hop: Hop): Promise<Served> {
    const { clock, options, pacing } = this.state;
    const model = hop.model ?? this.info.model;
    // The bucket of the model asked: its headers describe that model's limit, not the client's.
    const paced = pacing.limiter(hop.client, model);
    const limiter = paced?.limiter;
    const bucket = paced?.bucket;
    const breaker = pacing.breaker(hop.client, model);
    const tokens = limiter ? estimateRequestTokens(this.options.body) : 0;
    let backoffMs = 0;
    let source: BackoffSource = 'none';
    let previousDelayMs: number | undefined;
    let retriedFor: ErrorCategory | undefined;
    /** The failed attempt this one retries: when it ended, and who chose the wait. */
    let retry: RetryWait | undefined;
    for (let attempt = 1; ; attempt++) {
      // Aborted before it could be sent: no request, so no attempt span.
      if (this.signal?.aborted) throw new HopFailed(new OpenAI.APIUserAbortError(), 'aborted');
      if (breaker && !breaker.allow(clock.now())) {
        this.observer.refused('circuit_open');
        const where = `${redactUrl(hop.client.baseURL)}${model ? ` (${model})` : ''}`;
        throw new HopFailed(
          new CircuitOpenError({
            message: `retryscope: the circuit for ${where} is open after repeated failures; the call was not sent`,
          }),
          'circuit_open',
        );
      }
      if (paced) await this.waitForFleet(paced, tokens);
      const queued = limiter ? await this.waitForSlot(limiter, tokens, bucket) : undefined;
      const attemptStarted = clock.now();
      if (retry) {
        ({ ms: backoffMs, source } = creditWait(retry, attemptStarted, queued?.waitedMs));
        this.backoffTotalMs += backoffMs;
        this.observer.waited({ ms: backoffMs, source, reason: retry.reason, model: hop.model });
      }
      const record = this.observer.attemptStarted({
        attempt,
        backoffMs,
        backoffSource: source,
        ...(hop.model ? { requestModel: hop.model } : {}),
        fallbackIndex: hop.index,
      });
      const summary = (status?: number, headers: Record<string, string> = {}) =>
        this.remember(hop, attempt, attemptStarted, backoffMs, source, status, headers);
      // Every attempt's end feeds the limiter, without headers too: the first ends its cold start
      // (a server that sends none, or cannot be reached, has nothing more to tell by waiting).
      const feedback = (headers: Record<string, string>) => {
        const headroom = parseRateLimitHeaders(headers);
        limiter?.observe(clock.now(), headroom, queued?.ticket);
        return headroom;
      };
      let status: number | undefined;
      let headers: Record<string, string> = {};
      try {
        const pending = record.run(() => hop.send(this.attemptOptions(attempt, hop)));
        // A key from an `apiKey` function is known only once the SDK has resolved it for this send.
        const response = await pending
          .asResponse()
          .finally(() => this.state.telemetry.protect(hop.client.apiKey));
        status = response.status;
        headers = pickHeaders(response.headers);
        const ok = {
          status,
          ...(headers['x-request-id'] ? { requestId: headers['x-request-id'] } : {}),
          headroom: feedback(headers),
        };
        return await this.consume(pending, response, attemptStarted, {
          succeeded: () => {
            const now = clock.now();
            limiter?.onSuccess(now);
            breaker?.onSuccess(now);
            pacing.budget?.onSuccess(retriedFor);
            record.ended({ outcome: 'success', ...ok });
            summary(status, headers);
            this.recordPacing(limiter, breaker, model, bucket);
          },
          failed: (error: unknown) => {
            // An error inside a stream after chunks were delivered ends this attempt, never retried.
            const { classification, outcome } = afterStreamFailure(
              failureOf(error, true),
              deadlineErrors.has(error as object),
            );
            record.ended({ outcome: 'failed', ...ok, errorType: errorTypeOf(error), classification });
            summary(status, headers).fail(error, classification);
            return this.fail(error, outcome);
          },
          aborted: () => {
            const error = new OpenAI.APIUserAbortError();
            const classification = classify({ transport: 'aborted' });
            record.ended({ outcome: 'failed', ...ok, errorType: errorTypeOf(error), classification });
            summary(status, headers).fail(error, classification);
            this.finish('aborted', errorTypeOf(error));
          },
        });
      } catch (error) {
        if (error instanceof HopFailed) throw error;
        const failure = failureOf(error);
        const classification = classify(failure);
        const now = clock.now();
        const verdict = afterFailure(
          {
            failure,
            classification,
            attempt,
            previousDelayMs,
            cutByDeadline: deadlineErrors.has(error as object),
          },
          {
            nowMs: now,
            random: this.state.random,
            deadline: this.deadline,
            maxAttempts: this.maxAttempts,
            policy: options,
            budget: pacing.budget,
          },
        );
        if (!verdict.retry && verdict.budgetExhausted) this.budgetExhausted = true;
        const failedHeaders = failure.headers ?? headers;
        const failedStatus = failure.status ?? status;
        const headroom = feedback(failedHeaders);
        // A flex capacity miss is not a rate limit: only rate_limited (slow_down included) reaches the bucket.
        if (classification.category === 'rate_limited') {
          const retryAfterMs = verdict.holdMs;
          const kind = limiter?.onThrottle(now, retryAfterMs, queued?.ticket, {
            code: classification.code,
            headroom,
          });
          // A storm's pause holds the fleet too; an isolated 429 was only this call's.
          if (kind && kind !== 'isolated' && retryAfterMs && paced?.fleet)
            paced.fleet.fleet.pause(paced.fleet.key, now, now + retryAfterMs);
        }
        if (classification.quotaExhausted && paced?.fleet)
          paced.fleet.fleet.exhaust(paced.fleet.key, now, now + paced.fleet.quotaCooldownMs);
        breaker?.onFailure(now, classification.category);
        record.ended({
          outcome: verdict.retry ? 'retried' : 'failed',
          ...(failedStatus !== undefined ? { status: failedStatus } : {}),
          errorType: errorTypeOf(error),
          classification,
          ...(failedHeaders['x-request-id'] ? { requestId: failedHeaders['x-request-id'] } : {}),
          headroom,
          ...(verdict.retryAfterMs !== undefined ? { retryAfterMs: verdict.retryAfterMs } : {}),
        });
        summary(failedStatus, failedHeaders).fail(error, classification);
        this.recordPacing(limiter, breaker, model, bucket);
        if (!verdict.retry) throw new HopFailed(error, verdict.outcome);

        // The policy's wait is slept in full, the server's hint included, even with the limiter on:
        // its pause may end sooner (another caller's success), and a hint is a floor. The limiter
        // then holds the retry only for what it needs beyond that.
        try {
          if (verdict.delayMs > 0) {
            await clock.sleep(verdict.delayMs, this.signal);
            // A timer may fire a millisecond early by the wall clock; a server's wait is a floor.
            const short = now + verdict.delayMs - clock.now();
            if (short > 0 && short < verdict.delayMs) await clock.sleep(short, this.signal);
          }
        } catch {
          throw new HopFailed(new OpenAI.APIUserAbortError(), 'aborted');
        }
        retry = {
          failedAtMs: now,
          delayMs: verdict.delayMs,
          source: verdict.source,
          reason: classification.category,
        };
        previousDelayMs = verdict.delayMs;
        retriedFor = classification.category;
      }
    }
  }

  /**
   * Books a slot with the fleet (one Redis round trip) before the local
   * limiter: fails fast on a quota another process saw exhausted, waits what
   * the fleet's buckets ask. A store that does not answer in time is skipped.
   */
  private async waitForFleet(paced: BucketLimiter, tokens: number): Promise<void> {
    if (!paced.fleet) {
      this.storeMode = 'local';
      return;
    }
    const { clock } = this.state;
    const now = clock.now();
    const snapshot = paced.limiter.snapshot(now);
    const { mode, admission } = await paced.fleet.fleet.admit(paced.fleet.key, {
      now,
      tokens,
      rpm: snapshot.limitRpm ?? 0,
      tpm: snapshot.limitTpm ?? 0,
      burstMs: 1000,
      maxWaitMs: this.deadline.maxQueueMs(now),
    });
    this.storeMode = mode;
    if (mode === 'local-fallback') this.observer.storeFellBack(paced.bucket);
    if (!admission) return;
    if (!admission.ok && admission.reason === 'quota') {
      this.quotaFromFleet = true;
      this.observer.refused('quota_exhausted', paced.bucket);
      throw new HopFailed(
        new QuotaExhaustedError(
          429,
          {
            message:
              'retryscope: another process using this API key saw its quota exhausted (insufficient_quota); the call was not sent',
            type: 'insufficient_quota',
            code: 'insufficient_quota',
            param: null,
          },
          undefined,
          new Headers(),
        ),
        'quota_exhausted',
      );
    }
    if (!admission.ok) {
      this.observer.refused('deadline_exceeded', paced.bucket);
      throw new HopFailed(clientRateLimitError('deadline', admission.waitMs), 'deadline_exceeded');
    }
    if (admission.waitMs > 0) {
      try {
        await clock.sleep(admission.waitMs, this.signal);
      } catch {
        throw new HopFailed(new OpenAI.APIUserAbortError(), 'aborted');
      }
      this.queuedMs += admission.waitMs;
    }
  }

  /**
   * Waits in the client-side limiter for a send slot. Refuses at once (nothing
   * sent) when the queue is full or the slot would come after the deadline.
   */
  private async waitForSlot(
    limiter: RateLimiter,
    tokens: number,
    bucket: string | undefined,
  ): Promise<{ ticket: number; waitedMs: number }> {
    const { clock } = this.state;
    const started = clock.now();
    let slot = limiter.reserve(started, tokens, this.deadline.lastSlotAtMs);
    if (!slot.ok) {
      const outcome = refusalOutcome(slot.reason);
      this.observer.refused(outcome, bucket);
      throw new HopFailed(clientRateLimitError(slot.reason, slot.waitMs), outcome);
    }
    const ticket = slot.ticket;
    while (slot.ok && slot.waitMs > 0) {
      try {
        await clock.sleep(slot.sleepMs, this.signal);
      } catch {
        limiter.release(clock.now(), ticket);
        throw new HopFailed(new OpenAI.APIUserAbortError(), 'aborted');
      }
      slot = limiter.confirm(clock.now(), ticket);
    }
    if (!slot.ok) {
      this.observer.refused('deadline_exceeded', bucket);
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
    bucket?: string,
  ): void {
    const now = this.state.clock.now();
    const snapshot = limiter?.snapshot(now);
    this.observer.paced({
      model,
      bucket,
      queueDepth: snapshot?.queueDepth,
      ratePerSec: snapshot?.ratePerSec,
      budgetRemaining: this.state.pacing.budget?.remaining(),
      circuit: breaker?.state(now),
    });
  }

  /**
   * Reads the successful attempt the way the caller wants it, so that a body
   * that fails to arrive or parse still counts against that attempt.
   */
  private async consume(
    pending: PromiseLike<unknown>,
    response: Response,
    startedAt: number,
    attempt: LiveAttempt,
  ): Promise<Served> {
    if ((this.box.mode ?? 'parsed') === 'raw') {
      attempt.succeeded();
      this.markAndFinish(response);
      return { response, hasData: false, attempt: pending };
    }
    const data = await pending;
    if (this.isStream && data instanceof Stream)
      return this.consumeStream(data, response, pending, startedAt, attempt);
    Object.assign(this.facts, factsFromBody(data));
    if (this.state.options.captureContent) this.outputContent = outputContent(data);
    attempt.succeeded();
    this.markServed(data);
    this.markAndFinish(response);
    return { response, data, hasData: true, attempt: pending };
  }

  /**
   * A stream attempt whose headers said 200. The first attempt to get here hands
   * the caller its stream at once, as the SDK does; then the first chunk is read
   * inside the attempt, so a failure before it throws into the retry loop (and
   * may still fall back) while the caller's iterator waits. Once a chunk is
   * delivered, nothing is retried.
   */
  private async consumeStream(
    stream: Stream<unknown>,
    response: Response,
    pending: PromiseLike<unknown>,
    startedAt: number,
    attempt: LiveAttempt,
  ): Promise<Served> {
    if (!this.handle) {
      this.handle = this.createHandle();
      this.markServed(this.handle);
      this.markServed(response);
      this.deliver?.({ response, data: this.handle, hasData: true, attempt: pending });
    }
    const iterator = stream[Symbol.asyncIterator]();
    let first: IteratorResult<unknown>;
    try {
      first = await this.read(iterator, stream, startedAt, 'first_chunk');
    } catch (error) {
      stream.controller.abort();
      throw error;
    }
    // An SDK stream ends quietly when aborted; before any chunk that is the caller's abort, not an empty answer.
    if (first.done && this.signal?.aborted) throw new OpenAI.APIUserAbortError();
    this.markServed(this.handle);
    this.source.resolve({ kind: 'live', first, iterator, stream, attempt });
    return { response, data: this.handle, hasData: true, attempt: pending };
  }

  /** The stream the caller iterates: it waits for the loop to have a first chunk, then relays the rest. */
  private createHandle(): Stream<unknown> {
    const call = this;
    return new Stream(
      async function* () {
        let source: StreamSource;
        try {
          source = await call.source.promise;
        } catch (error) {
          // Aborted before any chunk: the SDK's stream ends quietly on abort, so this one does too.
          if (getAttemptHistory(error)?.outcome === 'aborted') return;
          throw error;
        }
        if (source.kind === 'canned') yield* source.items;
        else yield* call.relay(source);
      },
      this.streamController!,
      this.state.client,
    );
  }

  /** Relays a live attempt's chunks; the attempt and operation spans end with the stream, however it ends. */
  private async *relay(source: Extract<StreamSource, { kind: 'live' }>): AsyncGenerator<unknown> {
    const { iterator, stream, attempt } = source;
    let text = '';
    let settled = false;
    const capture = this.state.options.captureContent;
    const settle = (how: 'success' | 'aborted' | { error: unknown }): unknown => {
      if (settled) return how;
      settled = true;
      if (capture && text) this.outputContent = JSON.stringify([{ role: 'assistant', content: text }]);
      if (how === 'aborted') return attempt.aborted();
      if (how !== 'success') return attempt.failed(how.error);
      attempt.succeeded();
      this.finish(this.served ? 'fallback' : 'success');
      return undefined;
    };
    try {
      let next = source.first;
      while (!next.done) {
        const delta = observeStreamItem(this.facts, next.value);
        if (capture && delta) text += delta;
        yield next.value;
        next = await this.read(iterator, stream, this.state.clock.now(), 'idle');
      }
      settle(this.signal?.aborted ? 'aborted' : 'success');
    } catch (error) {
      throw settle({ error });
    } finally {
      if (!settled) {
        // The caller stopped early: `break` is a success as far as it went; `controller.abort()` is an abort.
        settle(this.signal?.aborted ? 'aborted' : 'success');
        await iterator.return?.();
      }
    }
  }

  /**
   * One read from an attempt's stream, bounded as `streamWait` decides: a server
   * that goes quiet gets an `APIConnectionTimeoutError` and its request aborted,
   * never a read that hangs past the attempt's timeout or the call's deadline.
   */
  private read(
    iterator: AsyncIterator<unknown>,
    stream: Stream<unknown>,
    sinceMs: number,
    phase: 'first_chunk' | 'idle',
  ): Promise<IteratorResult<unknown>> {
    const deadline = this.state.options.deadlineMs;
    const limit = streamWait({
      nowMs: this.state.clock.now(),
      sinceMs,
      phase,
      timeoutMs: this.attemptTimeout(),
      ...(deadline !== undefined ? { deadlineAtMs: this.deadline.atMs } : {}),
    });
    const next = iterator.next();
    if (limit.waitMs > MAX_TIMER_MS) return next;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.controller.abort();
        reject(streamTimeoutError(limit, deadline));
      }, limit.waitMs);
      next.then(
        (result) => {
          clearTimeout(timer);
          resolve(result);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /** The SDK's per-attempt timeout: the call's own, or the client's. */
  private attemptTimeout(): number {
    return this.options.timeout ?? this.state.client.timeout;
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

  private attemptOptions(attempt: number, hop: Hop): RequestOptions {
    const timeout = this.deadline.attemptTimeoutMs(this.state.clock.now(), this.attemptTimeout());
    const body = this.options.body;
    return {
      ...this.options,
      ...(this.signal ? { signal: this.signal } : {}),
      ...(hop.index > 0 && hop.model && isObject(body) ? { body: { ...body, model: hop.model } } : {}),
      maxRetries: 0,
      ...(timeout !== undefined ? { timeout } : {}),
      // Tell the server which retry this is, as the SDK itself does.
      headers: withRetryCount(this.options.headers, attempt - 1, defaultHeadersOf(this.state.client)),
    };
  }

  private deadlineLeft(): number {
    return this.deadline.leftMs(this.state.clock.now());
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
      backoffMs: Math.round(backoffMs),
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
    const budget = this.state.pacing.budget;
    this.observer.ended({
      outcome,
      attempts: this.history.length,
      backoffTotalMs: this.backoffTotalMs,
      errorType,
      ...this.facts,
      outputContent: this.outputContent,
      queuedMs: this.state.options.limiter !== false ? this.queuedMs : undefined,
      served: this.served,
      budgetRemaining: budget?.remaining(),
      budgetExhausted: this.budgetExhausted,
      limiterStore: this.storeMode,
      quotaFromFleet: this.quotaFromFleet,
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

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
