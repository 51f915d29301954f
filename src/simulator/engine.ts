// size: the gateway's gates in the order a request meets them; reading them in one place is the point (each gate's logic lives in its own module).
/**
 * Decides what to answer. Given a request, the engine walks the same gates
 * a real gateway does, in order, and returns a `Plan` for the HTTP layer to
 * carry out:
 *
 *   route → API key → JSON → parameters (400) → model availability (503)
 *   → gateway faults (401/400/too large) → quota → rate limiter
 *   → upstream faults (5xx, reset, hang, slow, malformed, stream error) → answer
 *
 * Upstream faults strike after the limiter, so a failed request has used its
 * share of the limits, as in production.
 */
import {
  type ApiError,
  insufficientQuota,
  invalidApiKey,
  invalidRequest,
  missingApiKey,
  modelUnavailable,
  notFound,
  rateLimited,
  requestTooLarge,
  responseNotFound,
  serverError,
} from './errors.ts';
import { FaultCounters, isPreAdmission, pickFault } from './faults.ts';
import { type Headers, rateLimitHeaders, retryAfterHeaders } from './headers.ts';
import { chatCompletionId, messageId, responseId } from './ids.ts';
import { type CurrentPhase, PhaseClock } from './phase-clock.ts';
import { type QuotaBudget, QuotaLedger } from './quota.ts';
import { mulberry32, type Random } from './random.ts';
import {
  admit,
  type BucketLimits,
  emptyBuckets,
  type KeyBuckets,
  type RateLimitSnapshot,
  scaleLimits,
  snapshot,
} from './rate-limiter.ts';
import { replyFor } from './reply.ts';
import { parseRequest, type RequestInfo } from './request-body.ts';
import {
  chatCompletion,
  embeddingsList,
  modelObject,
  modelsList,
  type ResponseEnding,
  type ResponseInput,
  responseObject,
  servedTier,
  usageFor,
} from './responses.ts';
import { modelIdFromPath, resolveRoute, responseIdFromPath } from './routes.ts';
import { chatStreamFrames, malformedStream, responseStreamFrames, type StreamCut } from './sse.ts';
import type {
  Clock,
  FaultSpec,
  KeyConfig,
  ModelLimits,
  RateLimits,
  RouteId,
  ScenarioDefinition,
} from './types.ts';

export const DEFAULT_LIMITS: RateLimits = { rpm: 600, tpm: 200_000 };
export const DEFAULT_STREAM_CHUNK_DELAY_MS = 10;
export const DEFAULT_SLOW_DELAY_MS = 2_000;
export const DEFAULT_STREAM_ERROR_AFTER_CHUNKS = 2;
/** Background responses kept for polling; the oldest go first. */
export const MAX_BACKGROUND_RESPONSES = 10_000;
/** The `retry-after-ms` of a `429` fault. */
export const FAULT_RETRY_AFTER_MS = 20;

export type Plan =
  | { kind: 'json'; status: number; body: unknown; headers: Headers; delayMs: number }
  | { kind: 'malformed'; text: string; headers: Headers; delayMs: number }
  | {
      kind: 'stream';
      frames: string[];
      headers: Headers;
      delayMs: number;
      chunkDelayMs: number;
      /** The stream ends with an in-stream error (quota, fault) or broken JSON. */
      broken: boolean;
    }
  | { kind: 'reset' }
  | { kind: 'hang' };

export interface EngineConfig {
  scenario: ScenarioDefinition;
  durationMs: number;
  seed: number;
  countRejected: boolean;
  acceptAnyKey: boolean;
  limits: Partial<RateLimits>;
  modelLimits: ModelLimits;
  keys: Record<string, KeyConfig>;
  quotaTokens: number | undefined;
  unavailableModels: readonly string[];
  extraFaults: readonly FaultSpec[];
  clock: Clock;
}

/** What is settled the moment a request arrives, before its body is read. */
export interface Arrival {
  current: CurrentPhase;
  /** One PRNG roll per fault slot, drawn in arrival order. */
  rolls: number[];
  latencyRoll: number;
}

export interface IncomingRequest {
  method: string;
  pathname: string;
  key: string | undefined;
  bodyText: string;
}

/** What a healthy answer needs to know about its request. */
interface Answering {
  route: Exclude<RouteId, 'models'>;
  info: RequestInfo;
  key: string;
  visit: number;
  quotaLeft: number;
  headers: Headers;
  latencyMs: number;
}

/** A fault inside a 200: how the response ends, and after how many stream chunks. */
interface InBandEnding {
  ending: ResponseEnding;
  afterChunks: number;
}

const jsonPlan = (status: number, body: unknown, headers: Headers, delayMs = 0): Plan => ({
  kind: 'json',
  status,
  body,
  headers,
  delayMs,
});

const errorPlan = (error: ApiError, headers: Headers): Plan =>
  jsonPlan(error.status, { error: error.error }, headers);

export class Engine {
  readonly #config: EngineConfig;
  readonly #phases: PhaseClock;
  readonly #faultRandom: Random;
  readonly #latencyRandom: Random;
  readonly #rollsPerRequest: number;
  readonly #buckets = new Map<string, KeyBuckets>();
  readonly #quota = new QuotaLedger();
  readonly #counters = new FaultCounters();
  readonly #knownKeys: ReadonlySet<string>;
  /** Background responses by id, with the polls each has had: the first says in_progress, the next the end. */
  readonly #background = new Map<string, { input: ResponseInput; polls: number }>();

  constructor(config: EngineConfig) {
    this.#config = config;
    const phases = config.scenario.phases.map((phase) => ({
      ...phase,
      faults: [...(phase.faults ?? []), ...config.extraFaults],
    }));
    this.#phases = new PhaseClock(phases, config.durationMs, config.scenario.loop ?? true, config.clock);
    this.#faultRandom = mulberry32(config.seed);
    // Latency has its own stream so changing it never shifts fault decisions.
    this.#latencyRandom = mulberry32(config.seed ^ 0x9e3779b9);
    this.#rollsPerRequest = Math.max(0, ...phases.map((phase) => phase.faults.length));
    this.#knownKeys = new Set([...Object.keys(config.scenario.keys ?? {}), ...Object.keys(config.keys)]);
  }

  phase(): string {
    return this.#phases.current().phase.name;
  }

  setPhase(name: string | null): void {
    this.#phases.pin(name);
  }

  /** Call synchronously when a request arrives: fixes its phase and its dice. */
  arrive(): Arrival {
    const rolls = Array.from({ length: this.#rollsPerRequest }, () => this.#faultRandom());
    return { current: this.#phases.current(), rolls, latencyRoll: this.#latencyRandom() };
  }

  #keyConfig(key: string): KeyConfig {
    const fromScenario = this.#config.scenario.keys?.[key] ?? {};
    const fromOptions = this.#config.keys[key] ?? {};
    return {
      ...fromScenario,
      ...fromOptions,
      limits: { ...fromScenario.limits, ...fromOptions.limits },
    };
  }

  /**
   * The limits a model's own entry sets under `key`, or undefined when the model shares the key's
   * buckets. Later sources win per field: the scenario, the options, the key's own.
   */
  #modelLimits(key: string, model: string | undefined): Partial<RateLimits> | undefined {
    if (model === undefined) return undefined;
    const sources = [
      this.#config.scenario.modelLimits,
      this.#config.modelLimits,
      this.#keyConfig(key).modelLimits,
    ].filter((limits) => limits !== undefined && Object.hasOwn(limits, model));
    if (sources.length === 0) return undefined;
    return Object.assign({}, ...sources.map((limits) => limits![model]));
  }

  /** Which buckets a request spends from: the model's own, if it has limits of its own, else the key's. */
  #bucketId(key: string, model: string | undefined): string {
    return this.#modelLimits(key, model) === undefined ? key : `${key}\u0000${model}`;
  }

  #limits(key: string, current: CurrentPhase, model?: string): BucketLimits {
    const base: BucketLimits = {
      ...DEFAULT_LIMITS,
      ...this.#config.scenario.limits,
      ...this.#config.limits,
      ...this.#keyConfig(key).limits,
      ...this.#modelLimits(key, model),
    };
    const burstMs = current.phase.burstMs ?? this.#config.scenario.burstMs;
    if (burstMs !== undefined) base.burstMs = burstMs;
    return scaleLimits(base, current.phase.limitsScale ?? 1);
  }

  #bucketsOf(id: string): KeyBuckets {
    let buckets = this.#buckets.get(id);
    if (!buckets) {
      buckets = emptyBuckets(this.#config.clock.now());
      this.#buckets.set(id, buckets);
    }
    return buckets;
  }

  #peek(key: string, current: CurrentPhase, model?: string): RateLimitSnapshot {
    return snapshot(
      this.#bucketsOf(this.#bucketId(key, model)),
      this.#limits(key, current, model),
      this.#config.clock.now(),
    );
  }

  #quotaBudget(key: string, current: CurrentPhase): QuotaBudget {
    const tokens = this.#keyConfig(key).quotaTokens ?? this.#config.quotaTokens;
    if (tokens !== undefined) {
      return tokens === Number.POSITIVE_INFINITY ? { scope: 'unlimited' } : { scope: 'run', tokens };
    }
    const phaseTokens = current.phase.quotaTokens;
    if (phaseTokens !== undefined && phaseTokens !== Number.POSITIVE_INFINITY) {
      return { scope: 'phase', tokens: phaseTokens };
    }
    return { scope: 'unlimited' };
  }

  #latency(arrival: Arrival): number {
    const latency = arrival.current.phase.latencyMs;
    if (latency === undefined) return 0;
    if (typeof latency === 'number') return latency;
    return Math.round(latency.min + (latency.max - latency.min) * arrival.latencyRoll);
  }

  /** An error answer that never reached the gates (the HTTP layer refused it). */
  refuse(arrival: Arrival, key: string | undefined, error: ApiError): Plan {
    return errorPlan(error, rateLimitHeaders(this.#peek(key ?? '', arrival.current)));
  }

  plan(arrival: Arrival, request: IncomingRequest): Plan {
    const { current } = arrival;
    const route = resolveRoute(request.method, request.pathname);
    // Headers for answers that do not touch the buckets still report them: the model's, once it is known.
    let asked: string | undefined;
    const peekHeaders = () => rateLimitHeaders(this.#peek(request.key ?? '', current, asked));

    if (!route) return errorPlan(notFound(request.method, request.pathname), peekHeaders());
    const { key } = request;
    if (key === undefined) return errorPlan(missingApiKey(), peekHeaders());
    if (!this.#config.acceptAnyKey && !this.#knownKeys.has(key)) {
      return errorPlan(invalidApiKey(key), peekHeaders());
    }

    if (route === 'responses' && request.method === 'GET') return this.#poll(request.pathname, peekHeaders());

    let body: unknown;
    if (route !== 'models') {
      try {
        body = JSON.parse(request.bodyText);
      } catch {
        return errorPlan(
          invalidRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
            null,
          ),
          peekHeaders(),
        );
      }
    }
    const parsed = parseRequest(route, body);
    if (!parsed.ok) return errorPlan(parsed.error, peekHeaders());
    const { info } = parsed;
    const model = info.model;
    asked = model;

    const unavailable = [
      ...this.#config.unavailableModels,
      ...(this.#config.scenario.unavailableModels ?? []),
      ...(current.phase.unavailableModels ?? []),
    ];
    if (model !== undefined && unavailable.includes(model))
      return errorPlan(modelUnavailable(model), peekHeaders());

    const fault = pickFault(
      current.phase.faults ?? [],
      arrival.rolls,
      { route, model, stream: info.stream },
      this.#counters,
      current.visit,
    );
    const limits = this.#limits(key, current, model);
    const estimate = info.promptTokens + info.maxOutputTokens;
    if (fault && isPreAdmission(fault.kind)) {
      if (fault.kind === '401') return errorPlan(invalidApiKey(key), peekHeaders());
      if (fault.kind === '429') {
        // A gateway's refusal with a short, exact hint a client can honour; by default its headers
        // say the bucket is empty, `advertise` makes them tell the truth or say nothing.
        const error = rateLimited(
          model ?? 'unknown',
          'requests',
          limits.rpm,
          limits.rpm,
          1,
          FAULT_RETRY_AFTER_MS,
        );
        const advertised =
          fault.advertise === 'none'
            ? {}
            : fault.advertise === 'actual'
              ? peekHeaders()
              : { ...peekHeaders(), 'x-ratelimit-remaining-requests': '0' };
        return errorPlan(error, { ...advertised, ...retryAfterHeaders(FAULT_RETRY_AFTER_MS) });
      }
      if (fault.kind === '400') {
        const param = route === 'chat.completions' ? 'messages' : 'input';
        return errorPlan(invalidRequest(`Invalid '${param}' (simulated fault).`, param), peekHeaders());
      }
      // 'too_large': claim the request exceeds the whole TPM limit.
      return errorPlan(
        requestTooLarge(model ?? 'unknown', limits.tpm, Math.max(estimate, limits.tpm + 1)),
        peekHeaders(),
      );
    }

    if (route === 'models') {
      return this.#upstream(fault, peekHeaders(), () => this.#models(request.pathname, peekHeaders()));
    }

    const budget = this.#quotaBudget(key, current);
    const quotaLeft = this.#quota.remaining(key, budget, current.visit);
    if (quotaLeft <= 0) return errorPlan(insufficientQuota(), peekHeaders());

    const now = this.#config.clock.now();
    const bucketId = this.#bucketId(key, model);
    const admission = admit(this.#bucketsOf(bucketId), limits, estimate, now, {
      countRejected: this.#config.countRejected,
    });
    this.#buckets.set(bucketId, admission.buckets);
    const headers = rateLimitHeaders(admission.snapshot);
    if (!admission.allowed) {
      if (admission.reason === 'too_large') {
        return errorPlan(requestTooLarge(model!, admission.limit, admission.requested), headers);
      }
      const error = rateLimited(
        model!,
        admission.reason,
        admission.limit,
        admission.used,
        admission.requested,
        admission.retryAfterMs,
      );
      return errorPlan(error, { ...headers, ...retryAfterHeaders(admission.retryAfterMs) });
    }

    const answering: Answering = {
      route,
      info,
      key,
      visit: current.visit,
      quotaLeft,
      headers,
      latencyMs: this.#latency(arrival),
    };
    return this.#upstream(fault, headers, (cut, inBand) => this.#answer(answering, cut, inBand));
  }

  /** `GET /responses/{id}`: a background response moves on one state per poll, then stays put. */
  #poll(pathname: string, headers: Headers): Plan {
    const id = responseIdFromPath(pathname) ?? '';
    const entry = this.#background.get(id);
    if (!entry) return errorPlan(responseNotFound(id), headers);
    entry.polls += 1;
    return jsonPlan(200, responseObject(entry.input, entry.polls === 1 ? 'in_progress' : 'final'), headers);
  }

  #keep(input: ResponseInput): void {
    this.#background.set(input.id, { input, polls: 0 });
    if (this.#background.size > MAX_BACKGROUND_RESPONSES)
      this.#background.delete(this.#background.keys().next().value!);
  }

  /** Applies an upstream fault, or lets `answer` run (possibly with a cut stream). */
  #upstream(
    fault: FaultSpec | undefined,
    headers: Headers,
    answer: (cut: StreamCut | undefined, inBand?: InBandEnding) => Plan,
  ): Plan {
    switch (fault?.kind) {
      case undefined:
        return answer(undefined);
      case 'reset':
        return { kind: 'reset' };
      case 'hang':
        return { kind: 'hang' };
      case '500':
      case '502':
      case '503':
        return errorPlan(serverError(Number(fault.kind) as 500 | 502 | 503), headers);
      case 'slow': {
        const plan = answer(undefined);
        const extra = fault.delayMs ?? DEFAULT_SLOW_DELAY_MS;
        return 'delayMs' in plan ? { ...plan, delayMs: plan.delayMs + extra } : plan;
      }
      case 'malformed':
        return malformed(answer(undefined));
      case 'stream_error':
        return answer({
          afterChunks: fault.afterChunks ?? DEFAULT_STREAM_ERROR_AFTER_CHUNKS,
          error: serverError(500).error,
        });
      case 'response_failed':
        return answer(undefined, {
          ending: { status: 'failed', code: fault.code ?? 'server_error' },
          afterChunks: fault.afterChunks ?? 0,
        });
      case 'response_incomplete':
        return answer(undefined, {
          ending: { status: 'incomplete', reason: fault.code ?? 'max_output_tokens' },
          afterChunks: fault.afterChunks ?? DEFAULT_STREAM_ERROR_AFTER_CHUNKS,
        });
      default:
        // Pre-admission kinds were handled before the limiter.
        return answer(undefined);
    }
  }

  #models(pathname: string, headers: Headers): Plan {
    const id = modelIdFromPath(pathname);
    return jsonPlan(200, id === undefined ? modelsList() : modelObject(id), headers);
  }

  /** A healthy answer, charged to the key's quota; a stream may be cut by a fault or by the quota. */
  #answer(request: Answering, faultCut: StreamCut | undefined, inBand?: InBandEnding): Plan {
    const { route, info, key, visit, headers, latencyMs } = request;
    const model = info.model!;

    if (route === 'embeddings') {
      this.#quota.charge(key, info.promptTokens, visit);
      const body = embeddingsList(
        model,
        info.inputs,
        info.dimensions,
        info.encodingFormat,
        info.promptTokens,
      );
      return jsonPlan(200, body, headers, latencyMs);
    }

    const reply = replyFor(info.maxOutputTokens);
    // The quota runs out mid-stream if the reply costs more than is left:
    // the stream breaks off with insufficient_quota after what was paid for.
    let cut = faultCut;
    if (info.stream) {
      const affordable = Math.max(0, Math.floor(request.quotaLeft - info.promptTokens));
      if (affordable < reply.pieces.length && (!cut || affordable < cut.afterChunks)) {
        cut = { afterChunks: affordable, error: insufficientQuota().error };
      }
    }
    const outputTokens = cut ? Math.min(cut.afterChunks, reply.pieces.length) : reply.pieces.length;
    this.#quota.charge(key, info.promptTokens + outputTokens, visit);
    const usage = usageFor(
      model,
      info.promptTokens,
      reply.pieces.length,
      this.#config.scenario.cachedInputShare,
    );
    const serviceTier = servedTier(info.serviceTier);
    const created = Math.floor(Date.now() / 1000);

    if (route === 'chat.completions') {
      const id = chatCompletionId();
      const finishReason = reply.truncated ? 'length' : 'stop';
      if (!info.stream) {
        const body = chatCompletion({
          id,
          created,
          model,
          text: reply.text,
          finishReason,
          usage,
          serviceTier,
        });
        return jsonPlan(200, body, headers, latencyMs);
      }
      const frames = chatStreamFrames({
        id,
        created,
        model,
        pieces: reply.pieces,
        finishReason,
        includeUsage: info.includeUsage,
        usage,
        serviceTier,
        ...(cut ? { cut } : {}),
      });
      return this.#stream(frames, headers, latencyMs, cut !== undefined);
    }

    const response: ResponseInput = {
      id: responseId(),
      messageId: messageId(),
      createdAt: created,
      model,
      text: reply.text,
      truncated: reply.truncated,
      usage,
      maxOutputTokens: info.maxOutputTokens,
      instructions: null,
      serviceTier,
      ...(inBand ? { ending: inBand.ending } : {}),
      ...(info.background ? { background: true } : {}),
    };
    if (!info.stream && info.background) {
      // Answered at once as queued; the polls see it through to its end.
      this.#keep(response);
      return jsonPlan(200, responseObject(response, 'queued'), headers, latencyMs);
    }
    if (!info.stream) return jsonPlan(200, responseObject(response), headers, latencyMs);
    const frames = responseStreamFrames({
      response,
      pieces: reply.pieces,
      ...(cut ? { cut } : {}),
      ...(inBand ? { endAfterChunks: inBand.afterChunks } : {}),
    });
    return this.#stream(frames, headers, latencyMs, cut !== undefined);
  }

  #stream(frames: string[], headers: Headers, delayMs: number, broken: boolean): Plan {
    const chunkDelayMs = this.#config.scenario.streamChunkDelayMs ?? DEFAULT_STREAM_CHUNK_DELAY_MS;
    return { kind: 'stream', frames, headers, delayMs, chunkDelayMs, broken };
  }
}

/** Breaks a healthy answer: a 200 whose JSON stops halfway, or a stream cut mid-frame. */
function malformed(plan: Plan): Plan {
  if (plan.kind === 'json') {
    const text = JSON.stringify(plan.body);
    const half = text.slice(0, Math.floor(text.length / 2));
    return { kind: 'malformed', text: half, headers: plan.headers, delayMs: plan.delayMs };
  }
  if (plan.kind === 'stream') return { ...plan, frames: malformedStream(plan.frames), broken: true };
  return plan;
}
