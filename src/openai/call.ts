import { type Context, context as otelContext } from '@opentelemetry/api';
import OpenAI from 'openai';
import { Stream } from 'openai/core/streaming';
import type { ResolvedOptions } from '../options.ts';
import { classify } from '../policy/classify.ts';
import type { Clock } from '../policy/clock.ts';
import { parseRateLimitHeaders } from '../policy/ratelimit-headers.ts';
import { type Decision, decide } from '../policy/retry-policy.ts';
import type { BackoffSource, Classification, Outcome } from '../policy/types.ts';
import type { OperationRecord, Telemetry } from '../telemetry/recorder.ts';
import { type AttemptSummary, finalizeError } from './errors.ts';
import {
  describeRequest,
  errorTypeOf,
  factsFromBody,
  failureFrom,
  inputContent,
  observeStreamItem,
  outputContent,
  pickHeaders,
  type ResponseFacts,
} from './extract.ts';
import type { ConsumeMode, ModeSink } from './operation-promise.ts';

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

/** What the loop hands back once an attempt succeeded. */
export interface Served {
  response: Response;
  /** Parsed data (or the wrapped stream); absent when the caller asked for the raw response. */
  data?: unknown;
  hasData: boolean;
  /** The successful attempt's own promise, to parse lazily in raw mode. */
  attempt: PromiseLike<unknown>;
}

/**
 * One logical call: validation, attempts, waits, and the telemetry of all of
 * them. The policy decides; this acts; the recorder records.
 */
export class Call {
  private readonly box: ModeBox;
  private readonly state: ClientState;
  private readonly options: RequestOptions;
  private readonly send: Send;
  private readonly op: OperationRecord;
  private readonly startedAt: number;
  private readonly maxAttempts: number;
  private readonly facts: ResponseFacts = {};
  private readonly history: AttemptSummary[] = [];
  private backoffTotalMs = 0;

  constructor(
    state: ClientState,
    method: string,
    path: string,
    options: RequestOptions,
    send: Send,
    parent: Context,
    box: ModeBox,
  ) {
    this.box = box;
    this.state = state;
    this.options = options;
    this.send = send;
    this.startedAt = state.clock.now();
    const info = describeRequest(method, path, options.body);
    // A per-call `maxRetries` (the SDK's own, typed, option) means the same to us: attempts = retries + 1.
    this.maxAttempts =
      typeof options.maxRetries === 'number' && options.maxRetries >= 0
        ? Math.floor(options.maxRetries) + 1
        : state.options.maxAttempts;
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
    this.stream = info.stream;
    this.model = info.model;
  }

  private readonly stream: boolean;
  private readonly model: string | undefined;

  /** Runs attempts until one succeeds or the policy stops; rejects with the caller's error. */
  async run(): Promise<Served> {
    const { clock, options } = this.state;
    let backoffMs = 0;
    let source: BackoffSource = 'none';
    let previousDelayMs: number | undefined;
    for (let attempt = 1; ; attempt++) {
      const attemptStarted = clock.now();
      const record = this.op.startAttempt({
        attempt,
        backoffMs,
        backoffSource: source,
        ...(this.model ? { requestModel: this.model } : {}),
        fallbackIndex: 0,
      });
      let status: number | undefined;
      let headers: Record<string, string> = {};
      try {
        const pending = otelContext.with(record.context, () => this.send(this.attemptOptions(attempt)));
        const response = await pending.asResponse();
        status = response.status;
        headers = pickHeaders(response.headers);
        const ok = {
          status,
          ...(headers['x-request-id'] ? { requestId: headers['x-request-id'] } : {}),
          headroom: parseRateLimitHeaders(headers),
        };
        const succeeded = () => {
          record.end({ outcome: 'success', ...ok });
          this.remember(attempt, attemptStarted, backoffMs, source, status, headers);
        };
        const served = await this.consume(pending, response, succeeded, (error) => {
          // An error inside a stream after chunks were delivered ends this attempt, never retried.
          const failure = failureFrom(error, true);
          const classification = classify(failure);
          record.end({ outcome: 'failed', ...ok, errorType: errorTypeOf(error), classification });
          this.remember(attempt, attemptStarted, backoffMs, source, status, headers, error, classification);
          const outcome: Outcome = classification.quotaExhausted ? 'quota_exhausted' : 'non_retryable';
          return this.fail(error, { retry: false, outcome }, attempt);
        });
        return served;
      } catch (error) {
        const failure = failureFrom(error);
        const classification = classify(failure);
        let decision = decide(
          failure,
          classification,
          {
            attempt: Math.min(attempt, this.maxAttempts),
            elapsedMs: clock.now() - this.startedAt,
            ...(previousDelayMs !== undefined ? { previousDelayMs } : {}),
          },
          { ...options, maxAttempts: this.maxAttempts },
          { nowMs: clock.now(), random: this.state.random },
        );
        // A timeout cut short by the deadline is the deadline's doing, not the server's.
        if (classification.category === 'timeout' && this.deadlineLeft() <= 0) {
          decision = { retry: false, outcome: 'deadline_exceeded' };
        }
        const failedHeaders = failure.headers ?? headers;
        record.end({
          outcome: decision.retry ? 'retried' : 'failed',
          ...((failure.status ?? status) !== undefined ? { status: failure.status ?? status } : {}),
          errorType: errorTypeOf(error),
          classification,
          ...(failedHeaders['x-request-id'] ? { requestId: failedHeaders['x-request-id'] } : {}),
          headroom: parseRateLimitHeaders(failedHeaders),
          ...(decision.retryAfterMs !== undefined ? { retryAfterMs: decision.retryAfterMs } : {}),
        });
        this.remember(
          attempt,
          attemptStarted,
          backoffMs,
          source,
          failure.status,
          failedHeaders,
          error,
          classification,
        );
        if (!decision.retry) throw this.fail(error, decision, attempt);

        this.op.recordBackoff(decision.delayMs, decision.source, classification.category, this.model);
        try {
          await clock.sleep(decision.delayMs, this.options.signal);
        } catch {
          throw this.fail(new OpenAI.APIUserAbortError(), { retry: false, outcome: 'aborted' }, attempt);
        }
        this.backoffTotalMs += decision.delayMs;
        backoffMs = decision.delayMs;
        source = decision.source;
        previousDelayMs = decision.delayMs;
      }
    }
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
    const mode = this.box.mode ?? 'parsed';
    if (mode === 'raw') {
      succeeded();
      this.finish('success', this.history.length);
      return { response, hasData: false, attempt: pending };
    }
    const data = await pending;
    if (this.stream && data instanceof Stream) {
      const stream = await this.watchStream(data, succeeded, failedMidStream);
      return { response, data: stream, hasData: true, attempt: pending };
    }
    Object.assign(this.facts, factsFromBody(data));
    if (this.state.options.captureContent) this.outputContent = outputContent(data);
    succeeded();
    this.finish('success', this.history.length);
    return { response, data, hasData: true, attempt: pending };
  }

  private outputContent: string | undefined;

  /**
   * Reads the first stream item inside the attempt, so a failure before any
   * chunk is retried like any other; once a chunk is delivered, nothing is.
   * The attempt and operation spans end when the stream does.
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
      this.finish('success', this.history.length);
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

  private attemptOptions(attempt: number): RequestOptions {
    const left = this.deadlineLeft();
    const timeout = this.options.timeout ?? this.state.client.timeout;
    return {
      ...this.options,
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

  private remember(
    attempt: number,
    startedAt: number,
    backoffMs: number,
    backoffSource: BackoffSource,
    status: number | undefined,
    headers: Record<string, string>,
    error?: unknown,
    classification?: Classification,
  ): void {
    this.history.push({
      attempt,
      fallbackIndex: 0,
      ...(this.model ? { model: this.model } : {}),
      ...(status !== undefined ? { status } : {}),
      ...(error !== undefined ? { errorType: errorTypeOf(error) } : {}),
      ...(classification?.code ? { code: classification.code } : {}),
      ...(classification ? { category: classification.category } : {}),
      ...(headers['x-request-id'] ? { requestId: headers['x-request-id'] } : {}),
      backoffMs,
      backoffSource,
      durationMs: this.state.clock.now() - startedAt,
    });
  }

  private finish(outcome: Outcome, attempts: number, errorType?: string): void {
    this.op.end({
      outcome,
      attempts,
      backoffTotalMs: this.backoffTotalMs,
      ...(errorType ? { errorType } : {}),
      ...this.facts,
      ...(this.outputContent ? { outputContent: this.outputContent } : {}),
    });
  }

  private fail(error: unknown, decision: Decision & { retry: false }, attempts: number): unknown {
    const final = finalizeError(error, {
      outcome: decision.outcome,
      attempts,
      totalBackoffMs: this.backoffTotalMs,
      history: this.history,
    });
    this.finish(decision.outcome, attempts, errorTypeOf(error));
    return final;
  }
}

/** Adds the SDK's own retry-count header when the caller's headers are a plain object (or absent). */
function withRetryCount(headers: unknown, retries: number): unknown {
  if (headers == null) return { 'x-stainless-retry-count': String(retries) };
  if (Object.getPrototypeOf(headers) === Object.prototype) {
    return { ...(headers as object), 'x-stainless-retry-count': String(retries) };
  }
  return headers;
}
