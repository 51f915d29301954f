/**
 * The recording seam: facts the attempt loop emits, in the order they
 * happen, for whoever records them (src/telemetry implements it; hooks.ts
 * wraps it). Plain data, named in the policy's vocabulary; no attribute
 * names, no OTel, no SDK. An observer must not throw into the call, and
 * nothing it does changes what the caller gets.
 */
import type { CircuitState } from './policy/circuit-breaker.ts';
import type { RateLimitHeadroom } from './policy/ratelimit-headers.ts';
import type {
  AttemptOutcome,
  BackoffSource,
  Classification,
  ErrorCategory,
  Outcome,
} from './policy/types.ts';

/** What the request body asked for, each value type-checked (a wrong type is left out). */
export interface RequestParams {
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  stopSequences?: string[];
  seed?: number;
  choiceCount?: number;
  outputType?: string;
  conversationId?: string;
  previousResponseId?: string;
  serviceTier?: string;
}

/** The call, as it starts. */
export interface OperationStarted {
  operationName: string;
  api: string;
  /** The client is an `AzureOpenAI`. */
  azure?: boolean;
  requestModel?: string;
  serverAddress?: string;
  serverPort?: number;
  /** The HTTP method and the path as the SDK sends it (ids included: telemetry templates it). */
  method?: string;
  path?: string;
  stream: boolean;
  deadlineMs?: number;
  params?: RequestParams;
  /** The conventions' JSON of the prompt; given only when content capture is on. */
  inputContent?: string;
  /** The conventions' JSON of instructions sent apart from the history; only with content capture. */
  systemInstructions?: string;
  /** Attribution tags, allow-listed and bounded already (key without the `retryscope.tag.` prefix). */
  tags?: Readonly<Record<string, string>>;
}

/** An attempt, about to be sent. */
export interface AttemptStarted {
  attempt: number;
  /** The wait before it, as it happened (see `creditWait`), and who set it. */
  backoffMs: number;
  backoffSource: BackoffSource;
  requestModel?: string;
  fallbackIndex: number;
}

/** An attempt, ended: its classification and what its headers said. */
export interface AttemptEnded {
  outcome: AttemptOutcome;
  status?: number;
  errorType?: string;
  classification?: Classification;
  requestId?: string;
  headroom?: RateLimitHeadroom;
  retryAfterMs?: number;
  /** What this attempt's server reported it used (a failed stream's too, when it said). */
  usage?: Usage;
  /** Its usage priced; absent with no usage. */
  cost?: Cost;
  /** A stream cut mid-way with no usage report: output tokens estimated from what arrived. */
  estimatedOutputTokens?: number;
  /** The tier that served it (`openai.response.service_tier`), when the answer said. */
  serviceTier?: string;
}

/** A wait between a failed attempt and its retry: what was slept, who set it, what it was for. */
export interface Waited {
  ms: number;
  source: BackoffSource;
  reason: ErrorCategory;
  model?: string;
}

/** The client-side pacing state, read after an attempt. */
export interface Paced {
  model?: string;
  /** The limiter bucket's label: the model or its pool (never the key). */
  bucket?: string;
  queueDepth?: number;
  ratePerSec?: number;
  budgetRemaining?: number;
  circuit?: CircuitState;
}

/** What served the call, when not the primary: a fallback, or `degrade` (index past the last one). */
export interface ServedBy {
  index: number;
  reason: Outcome;
  model?: string;
}

/** A hop skipped unsent: its own request, validated against its model, cannot be answered. */
export interface HopSkipped {
  /** 0 = the primary, 1.. = the fallback at that position. */
  index: number;
  model?: string;
  /** The validation problem, as the API would name it. */
  code: string;
  param: string;
}

/** Finish reasons kept on a span: OpenAI's largest `n`. */
export const MAX_FINISH_REASONS = 128;

/** Token counts as the server reported them; the details are parts of the totals, as OpenAI reports them. */
export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  /** Part of `inputTokens`: read from the prompt cache (`cached_tokens`). */
  cachedInputTokens?: number;
  /** Part of `outputTokens`: reasoning (`reasoning_tokens`). */
  reasoningTokens?: number;
  /** Part of `inputTokens`: written to the prompt cache (`cache_write_tokens`), priced where a model has a write price. */
  cacheWriteInputTokens?: number;
}

/**
 * What an attempt (or a whole call, summed) cost, or why it could not be priced: `no_usage` is a
 * stream that ended without a usage report (chat without `stream_options.include_usage`).
 */
export type Cost = { usd: number } | { unpriced: 'unknown_model' | 'unpriced_tier' | 'no_usage' };

/** A spend budget's state after a call: for its gauges and alerts. */
export interface BudgetState {
  period: 'hour' | 'day' | 'month';
  /** Per-tag budgets: the tag key and this call's value of it. */
  tag?: { key: string; value: string };
  spentUsd: number;
  limitUsd: number;
  /** The share at which it warns. */
  softLimit: number;
  /** When its period ends (ms since the epoch): its spend starts again from 0 then. */
  resetsAtMs: number;
}

/** What the response said about itself (model, id, finish reasons, usage). */
export interface ResponseFacts {
  responseModel?: string;
  responseId?: string;
  finishReasons?: string[];
  usage?: Usage;
  serviceTier?: string;
  systemFingerprint?: string;
  /** Streams: from sending the serving attempt to its first chunk. */
  timeToFirstChunkMs?: number;
}

/** The call, ended. */
export interface OperationEnded extends ResponseFacts {
  outcome: Outcome;
  attempts: number;
  backoffTotalMs: number;
  errorType?: string;
  /** The conventions' JSON of the completion; given only when content capture is on. */
  outputContent?: string;
  /** Time spent waiting for send slots; absent when the limiter is off. */
  queuedMs?: number;
  served?: ServedBy;
  /** The retry budget left, when it is on. */
  budgetRemaining?: number;
  /** The budget vetoed a retry of this call. */
  budgetExhausted: boolean;
  /** Which limiter paced the last attempt: the fleet's (Redis), its own, or its own as a fallback. */
  limiterStore?: 'redis' | 'local' | 'local-fallback';
  /** The error the caller gets, on failure (hooks hand it on; telemetry records only `errorType`). */
  error?: unknown;
  /** Another process saw the quota exhausted: this call was refused without sending. */
  quotaFromFleet: boolean;
  /** The whole call's cost: every attempt's, summed (`usage` is summed likewise); absent with no usage. */
  cost?: Cost;
  /** Summed over attempts cut mid-stream with no usage report; never part of `usage`. */
  estimatedOutputTokens?: number;
  /** The spend budgets that apply to this call, as they stand after it. */
  budgets?: BudgetState[];
}

/** One attempt's observer. */
export interface AttemptObserver {
  /** Runs the send in the attempt's context, so the SDK's own instrumentation nests under it. */
  run<T>(send: () => T): T;
  ended(fact: AttemptEnded): void;
}

/** One call's observer. */
export interface CallObserver {
  attemptStarted(fact: AttemptStarted): AttemptObserver;
  waited(fact: Waited): void;
  /** The call moves on to another hop (a fallback): `index` 1 is the first fallback. */
  hopChanged(fact: ServedBy): void;
  /** A hop was skipped unsent: its request cannot fit its model. */
  hopSkipped(fact: HopSkipped): void;
  paced(fact: Paced): void;
  /** The client refused to send (queue full, past the deadline, circuit open, fleet quota). */
  refused(outcome: Outcome, bucket?: string): void;
  /** The shared store did not answer: this call was paced by its own limiter. */
  storeFellBack(bucket?: string): void;
  ended(fact: OperationEnded): void;
}
