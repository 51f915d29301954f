// size: one call's life, from validation through its hops and degrade to its end (the attempt loop and reading are apart).
import type { Context } from '@opentelemetry/api';
import type { Stream } from 'openai/core/streaming';
import { withHooks } from '../hooks.ts';
import type { CallObserver, Cost } from '../observer.ts';
import type { ResolvedOptions } from '../options.ts';
import { Deadline } from '../policy/deadline.ts';
import { bodyForHop } from '../policy/hop-plan.ts';
import type { Outcome } from '../policy/types.ts';
import { attemptLimit, degradeCutOutcome, degrades, fallsBack } from '../policy/verdict.ts';
import { ABORTED, bounded, DEADLINE } from './bounded.ts';
import { settleBudgets } from './budgets.ts';
import {
  type ClientState,
  type Deferred,
  deferred,
  type Hop,
  HopFailed,
  InBandAnswer,
  type ModeBox,
  type RequestOptions,
  type Served,
  type StreamSource,
} from './call-types.ts';
import { cannedStream } from './consume.ts';
import { invalidRequestError } from './errors.ts';
import {
  describeRequest,
  errorTypeOf,
  FETCH_RESPONSE,
  type RequestInfo,
  type ResponseFacts,
} from './extract.ts';
import { markServedBy } from './fallback-info.ts';
import { History } from './history.ts';
import { runHop } from './hop.ts';
import { Preflight } from './preflight.ts';
import { operationStarted } from './request-params.ts';
import { defaultHeadersOf, hasStreamingBody, sdkRetries, withRetryCount } from './sdk-options.ts';
import { Spend } from './spend.ts';
import { callTags } from './tags.ts';

/**
 * One logical call: validation, then its hops (the primary, each fallback, `degrade`), until one
 * serves it. hop.ts (the attempt loop) and consume.ts (reading an answer) work on its fields.
 */
export class Call {
  readonly box: ModeBox;
  readonly state: ClientState;
  readonly method: string;
  readonly path: string;
  readonly options: RequestOptions;
  private readonly hops: Hop[];
  readonly info: RequestInfo;
  readonly observer: CallObserver;
  readonly deadline: Deadline;
  readonly maxAttempts: number;
  readonly facts: ResponseFacts = {};
  readonly history = new History();
  /** Each attempt's usage and cost, and their sums: what the call spent. */
  readonly spend: Spend;
  backoffTotalMs = 0;
  queuedMs = 0;
  budgetExhausted = false;
  /** Which limiter paced the last attempt: the fleet's (Redis), its own, or its own as a fallback. */
  storeMode: 'redis' | 'local' | 'local-fallback' | undefined;
  quotaFromFleet = false;
  outputContent: string | undefined;
  /** Prompts and completions are recorded (`captureContent`, or the OTel variable). */
  readonly capture: boolean;
  /** Attribution tags, allow-listed, cleaned and capped; read at call start from `tags` and baggage. */
  readonly tags: Readonly<Record<string, string>>;
  /** The same tags' values uncapped: what per-tag budgets are kept by (see policy/tags.ts). */
  readonly tagValues: Readonly<Record<string, string>>;
  /** Set once the call is served by a fallback or by `degrade`. */
  served: { index: number; reason: Outcome; model?: string } | undefined;
  /** A streaming call: `stream: true`, read chunk by chunk. */
  readonly isStream: boolean;
  /** The caller's signal, joined for a stream by the controller of the stream handed out. */
  readonly signal: AbortSignal | undefined;
  /** The controller of the stream handed to the caller (`stream.controller.abort()` cancels the call). */
  readonly streamController: AbortController | undefined;
  /** The stream handed to the caller once the first attempt's headers arrived. */
  handle: Stream<unknown> | undefined;
  /** Settles the caller's promise. */
  deliver: ((served: Served) => void) | undefined;
  /** What the handed-out stream reads: the first attempt to get a chunk, or a degraded answer. */
  readonly source: Deferred<StreamSource> | undefined;

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
    this.spend = new Spend(state, this.info.operationName !== FETCH_RESPONSE);
    // The SDK's own flag: set by create({ stream: true }) and by retrieve(id, { stream: true }) alike.
    this.isStream = options.stream === true || this.info.stream;
    if (this.isStream) {
      this.streamController = new AbortController();
      const own = this.streamController.signal;
      this.signal = options.signal ? AbortSignal.any([options.signal, own]) : own;
      // Only a stream is handed out before it is served; a plain call needs no second promise.
      this.source = deferred<StreamSource>();
      this.source.promise.catch(() => {});
    } else {
      this.signal = options.signal ?? undefined;
    }
    this.maxAttempts = attemptLimit({
      replayable,
      maxRetries: sdkRetries(options.maxRetries),
      maxAttempts: state.options.maxAttempts,
    });
    this.capture = state.options.captureContent;
    ({ recorded: this.tags, values: this.tagValues } = callTags(state, parent));
    const info = this.info;
    const request = { method, path, body: options.body, info, stream: this.isStream, tags: this.tags };
    const recorder = state.telemetry.startOperation(operationStarted(state, request, this.capture), parent);
    const call = { operationName: info.operationName, ...(info.model ? { requestModel: info.model } : {}) };
    this.observer = withHooks(recorder, state.options.hooks, call);
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
          if (this.handle) this.source!.reject(error);
          else reject(error);
        },
      );
    });
  }

  /** Serves the call from the first hop that can, or rejects with the caller's error. */
  private async serve(): Promise<Served> {
    const { fallbackOn, degrade, validate } = this.state.options;
    const preflight = validate ? new Preflight(this, validate) : undefined;
    let last: HopFailed | undefined;
    for (const [i, hop] of this.hops.entries()) {
      if (last && !fallsBack(last.outcome, fallbackOn, this.deadlineLeft())) break;
      // A request a hop's model can only reject costs no round trip, no rate-limit slot and no attempt span.
      const step = await preflight?.step(hop, this.hops.length - 1 - i);
      if (step && step.kind !== 'send') {
        // A skipped primary's refusal is what the caller gets if no fallback serves.
        last ??= new HopFailed(invalidRequestError(step.problem), 'invalid_request');
        if (step.kind === 'refuse') break;
        continue;
      }
      try {
        if (last) {
          this.served = { index: hop.index, reason: last.outcome, model: hop.model };
          this.observer.hopChanged(this.served);
        }
        return await runHop(this, hop);
      } catch (error) {
        if (!(error instanceof HopFailed)) throw error;
        this.served = undefined;
        last = error;
      }
    }
    if (!last) throw new Error('retryscope: a call with no hop to send it to');
    const inBand = last.error instanceof InBandAnswer ? last.error : undefined;
    if (degrade && degrades(last.outcome, fallbackOn, !!inBand)) return this.degrade(degrade, last);
    if (inBand) return this.passInBand(inBand, last.outcome);
    throw this.fail(last.error, last.outcome);
  }

  /**
   * The last answer was a failed or incomplete response: the caller gets it as
   * the SDK returns it (never an error the SDK would not throw), and the call
   * ends as what it was. `degrade` stands in for errors only.
   */
  private passInBand(answer: InBandAnswer, outcome: Exclude<Outcome, 'success'>): Served {
    this.finish(outcome, answer.errorType);
    if (answer.served) return answer.served;
    // A stream: the caller's handle yields the failing event and ends.
    this.source!.resolve({ kind: 'canned', items: answer.events });
    return { response: new Response(null), data: this.handle, hasData: true };
  }

  /** The last resort: the user's `degrade` answers instead of the API. */
  private async degrade(degrade: NonNullable<ResolvedOptions['degrade']>, last: HopFailed): Promise<Served> {
    const error = this.finalize(last.error, last.outcome);
    let value: unknown;
    try {
      const ask = () => degrade({ error, request: this.options.body, outcome: last.outcome });
      value = await bounded(ask, this.deadlineLeft(), this.signal);
    } catch (cut) {
      // A degrade that fails, outlives the deadline or is aborted must not hide the real error.
      const how = cut === DEADLINE ? 'deadline' : cut === ABORTED ? 'aborted' : 'failed';
      throw this.fail(last.error, degradeCutOutcome(how, last.outcome));
    }
    this.served = { index: this.hops.length, reason: last.outcome };
    const served = { fallbackIndex: this.served.index, reason: last.outcome, degraded: true };
    if (this.handle) {
      // The stream is already in the caller's hands: it yields the canned chunks.
      markServedBy(this.handle, served);
      this.source!.resolve({ kind: 'canned', items: Array.isArray(value) ? value : [value] });
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

  /** What the call has cost so far: every priced attempt's, summed (the budget charges it at the end). */
  get cost(): Cost | undefined {
    return this.spend.cost;
  }

  /** The SDK's per-attempt timeout: the call's own, or the client's. */
  attemptTimeout(): number {
    return this.options.timeout ?? this.state.client.timeout;
  }

  markAndFinish(response: Response): void {
    this.markServed(response);
    this.finish(this.served ? 'fallback' : 'success');
  }

  markServed(target: unknown): void {
    if (!this.served) return;
    markServedBy(target, {
      fallbackIndex: this.served.index,
      reason: this.served.reason,
      degraded: false,
      ...(this.served.model ? { model: this.served.model } : {}),
    });
  }

  attemptOptions(attempt: number, hop: Hop): RequestOptions {
    const timeout = this.deadline.attemptTimeoutMs(this.state.clock.now(), this.attemptTimeout());
    return {
      ...this.options,
      ...(this.signal ? { signal: this.signal } : {}),
      ...(hop.index > 0 ? { body: bodyForHop(this.options.body, hop.index, hop.model) } : {}),
      maxRetries: 0,
      ...(timeout !== undefined ? { timeout } : {}),
      // Tell the server which retry this is, as the SDK itself does.
      headers: withRetryCount(this.options.headers, attempt - 1, defaultHeadersOf(this.state.client)),
    };
  }

  deadlineLeft(): number {
    return this.deadline.leftMs(this.state.clock.now());
  }

  finish(outcome: Outcome, errorType?: string, error?: unknown): void {
    this.observer.ended({
      outcome,
      attempts: this.history.length,
      backoffTotalMs: this.backoffTotalMs,
      errorType,
      ...this.facts,
      ...this.spend.totals(),
      outputContent: this.outputContent,
      queuedMs: this.state.options.limiter !== false ? this.queuedMs : undefined,
      served: this.served,
      budgetRemaining: this.state.pacing.budget?.remaining(),
      budgets: settleBudgets(this),
      budgetExhausted: this.budgetExhausted,
      limiterStore: this.storeMode,
      quotaFromFleet: this.quotaFromFleet,
      ...(error !== undefined ? { error } : {}),
    });
  }

  /** Ends the call with this error: the caller's error, with its history, and the operation span. */
  fail(error: unknown, outcome: Exclude<Outcome, 'success'>): unknown {
    const final = this.finalize(error, outcome);
    this.finish(outcome, errorTypeOf(error), final);
    return final;
  }

  private finalize(error: unknown, outcome: Exclude<Outcome, 'success'>): unknown {
    return this.history.finalize(error, outcome, this.backoffTotalMs);
  }
}
