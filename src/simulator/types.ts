/** Shared vocabulary of the simulator: plain data, no I/O. */

import type { TimeSource } from '../policy/clock.ts';

/** The endpoints the simulator serves; also what a fault's `routes` filter names. */
export const ROUTE_IDS = ['chat.completions', 'responses', 'embeddings', 'models'] as const;
export type RouteId = (typeof ROUTE_IDS)[number];

/**
 * What can go wrong on purpose. Status codes are kinds of their own so a
 * scenario reads like an incident report: `kind: 503`.
 */
export const FAULT_KINDS = [
  '500',
  '502',
  '503',
  'reset',
  'slow',
  'hang',
  'malformed',
  'stream_error',
  '401',
  '400',
  'too_large',
  '429',
  'response_failed',
  'response_incomplete',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultSpec {
  kind: FaultKind;
  /** Chance (0..1) that an eligible request meets this fault. */
  probability?: number;
  /** Strike every Nth eligible request instead of (or as well as) by chance. */
  every?: number;
  /** Once struck, the next `burst - 1` eligible requests meet it too. Default 1. */
  burst?: number;
  /** Only requests to these routes are eligible. Default: all. */
  routes?: RouteId[];
  /** Only requests for these models are eligible. Default: all. */
  models?: string[];
  /** `slow`: how long to wait before answering normally. */
  delayMs?: number;
  /**
   * `stream_error`, `response_failed`, `response_incomplete` (streams): how many content
   * chunks go out before the error or the failing event. `response_failed` defaults to 0:
   * `response.failed` is the stream's first event.
   */
  afterChunks?: number;
  /**
   * `response_failed`: the response's `error.code` (default `server_error`);
   * `response_incomplete`: its `incomplete_details.reason` (default `max_output_tokens`).
   */
  code?: string;
  /**
   * `429`: what its `x-ratelimit-*` headers say. `empty`: no requests remaining, as if the
   * bucket were spent; `actual`: the bucket as it really is (a 429 that is not about load);
   * `none`: no rate-limit headers at all.
   * @default 'empty'
   */
  advertise?: FaultAdvertise;
}

export const FAULT_ADVERTISE = ['empty', 'actual', 'none'] as const;
export type FaultAdvertise = (typeof FAULT_ADVERTISE)[number];

/**
 * Limits of their own for some models, by model name. OpenAI scopes its
 * limits per model: each listed model has its own buckets under a key, and
 * its answers' headers describe them. Models not listed share the key's.
 */
export type ModelLimits = Record<string, Partial<RateLimits>>;

export interface RateLimits {
  /** Requests per minute. */
  rpm: number;
  /** Tokens per minute. */
  tpm: number;
}

export interface LatencyRange {
  min: number;
  max: number;
}

export interface PhaseDefinition {
  name: string;
  /** Relative length: the phase gets `weight / sum(weights)` of the run. Default 1. */
  weight?: number;
  /** Multiplies every key's rate limits during the phase (0.15 = a storm). Default 1. */
  limitsScale?: number;
  /** Overrides the scenario's `burstMs` during the phase. */
  burstMs?: number;
  /**
   * Tokens each key without its own quota may spend from the start of this
   * phase; when spent, requests get `insufficient_quota`.
   */
  quotaTokens?: number;
  /** Models that answer 503 during this phase, on top of the global list. */
  unavailableModels?: string[];
  /** Added latency before healthy answers: a fixed value or a range. */
  latencyMs?: number | LatencyRange;
  faults?: FaultSpec[];
}

export interface KeyConfig {
  /** Tokens this key may spend over the whole run; `Infinity` never runs out. */
  quotaTokens?: number;
  /** Overrides the base limits for this key (phases still scale them). */
  limits?: Partial<RateLimits>;
  /** Per-model limits under this key, over the scenario's and the options' (phases still scale them). */
  modelLimits?: ModelLimits;
}

export interface ScenarioDefinition {
  name: string;
  description?: string;
  /** Base per-key limits; the options' `limits` override them. */
  limits?: Partial<RateLimits>;
  /**
   * Models with limits (and buckets) of their own under every key; a field left out
   * comes from the key's limits. `{ 'gpt-4o': { rpm: 500 } }`.
   */
  modelLimits?: ModelLimits;
  /**
   * How much of a minute's limit a key may spend at once, as milliseconds of
   * refill (OpenAI may enforce 600 RPM as 10 per second). Default 60 000:
   * the whole minute.
   */
  burstMs?: number;
  keys?: Record<string, KeyConfig>;
  /** Models that always answer 503. */
  unavailableModels?: string[];
  /** Pause between stream chunks. Default 10 ms. */
  streamChunkDelayMs?: number;
  /** Share of each prompt reported as read from the prompt cache (`cached_tokens`), 0 to 1. Default 0.5. */
  cachedInputShare?: number;
  /** Start again from the first phase when the last one ends. Default true. */
  loop?: boolean;
  phases: PhaseDefinition[];
}

/** The simulator only reads the time: the policy's clock without `sleep`. */
export type Clock = TimeSource;

export type NamedScenario = 'steady' | 'storm' | 'outage' | 'quota' | 'mixed';

/** How long a client may take, in milliseconds, before the simulator gives up on it. */
export interface WireTimeouts {
  /**
   * From connect (or the end of the previous answer) to the last header byte.
   * Slowloris clients trickle headers forever; a real client sends them in one write.
   * @default 10_000
   */
  headersMs: number;
  /**
   * From the first byte to the last body byte. 8 MB (the body cap) fits at under 300 kB/s.
   * Answers are not bounded: hang faults must be able to outlast any client timeout.
   * @default 30_000
   */
  requestMs: number;
  /**
   * Idle time allowed between requests on a kept-alive connection. Longer than
   * undici's own 4 s, so the client, not the server, closes an idle connection
   * and a request never races the close.
   * @default 5_000
   */
  keepAliveMs: number;
}

export interface SimulatorOptions {
  /** 0 picks a free port. Default 0. */
  port?: number;
  /** Loopback unless another address is given explicitly. Default `127.0.0.1`. */
  host?: string;
  /** Default `mixed`. */
  scenario?: NamedScenario | ScenarioDefinition;
  /** Seeds the fault PRNG: same seed and request order, same faults. Default 1. */
  seed?: number;
  /** The scenario's phases are scaled to this total. Default 60 000. */
  durationMs?: number;
  /** Base per-key limits (override the scenario's). Default 600 rpm, 200 000 tpm. */
  limits?: Partial<RateLimits>;
  /** Per-model limits under every key (override the scenario's, per model and field). */
  modelLimits?: ModelLimits;
  /** Rejected requests still consume a request from the RPM bucket. Default true. */
  countRejected?: boolean;
  keys?: Record<string, KeyConfig>;
  /** Run-long quota for every key that has none of its own. Default: unlimited. */
  quotaTokens?: number;
  /** When false, keys not listed in `keys` (or the scenario's) get 401. Default true. */
  acceptAnyKey?: boolean;
  /** These models always answer 503 (on top of the scenario's). */
  unavailableModels?: string[];
  /** Extra faults added to every phase (what the CLI's `--fault` does). */
  faults?: FaultSpec[];
  /** Time source for the limiter, quota phases and the timeline. Default `Date`. */
  clock?: Clock;
  /**
   * How long a slow client may take to send its headers and its body, and to
   * come back on a kept-alive connection, before the simulator closes it.
   * Answers (hang faults included) are never cut short.
   * @default { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000 }
   */
  timeouts?: Partial<WireTimeouts>;
}

export interface SimulatorStats {
  /** Every request received, including those reset or left hanging. */
  requests: number;
  byRoute: Record<string, number>;
  /** By HTTP status, plus `reset` and `hang` for requests that never got one. */
  byStatus: Record<string, number>;
  byKey: Record<string, number>;
  resets: number;
  hangs: number;
  /** Streams that ended with an in-stream error event. */
  streamErrors: number;
}

export interface Simulator {
  /** Base URL to hand the SDK: `http://127.0.0.1:PORT/v1`. */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly seed: number;
  readonly scenario: ScenarioDefinition;
  stats(): SimulatorStats;
  resetStats(): void;
  /** Name of the current phase. */
  phase(): string;
  /** Pin a phase by name (stops the timeline); `null` returns to the timeline. */
  setPhase(name: string | null): void;
  /** Closes promptly, hung requests included. */
  close(): Promise<void>;
}
