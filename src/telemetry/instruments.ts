import type {
  Attributes,
  Context,
  Counter,
  Gauge,
  Histogram,
  Meter,
  MeterProvider,
  ObservableGauge,
} from '@opentelemetry/api';
import { createNoopMeter, metrics } from '@opentelemetry/api';
import { VERSION } from '../version.ts';
import * as A from './attributes.ts';
import { safely } from './safely.ts';
import type { GenAiNaming } from './semconv.ts';

/** The metric instruments of one instrumented client. */
export interface Instruments {
  /** Every operation in the default naming; only non-inference ones (embeddings, ...) in the latest. */
  operationDuration: Histogram;
  /** The default naming's token histogram; absent in the latest. */
  tokenUsage?: Histogram;
  /** The latest naming's inference instruments (OTEL_SEMCONV_STABILITY_OPT_IN); absent in the default. */
  inference?: InferenceInstruments;
  attempts: Counter;
  backoff: Histogram;
  quotaExhausted: Counter;
  remainingRequests: Gauge;
  remainingTokens: Gauge;
  resetRequests: Gauge;
  resetTokens: Gauge;
  queueDuration: Histogram;
  limiterRejected: Counter;
  storeFallbacks: Counter;
  queueDepth: Gauge;
  limiterRate: Gauge;
  retryBudgetRemaining: Gauge;
  circuitState: Gauge;
  fallbacks: Counter;
  finishReasons: Counter;
  /** Tokens of every attempt that reported usage, by `retryscope.token.type`. */
  tokens: Counter;
  /** USD of every priced attempt, by attempt outcome. */
  cost: Counter;
  /** Observed at collection from the latest budget states (budget-gauges.ts). */
  budgetUsed: ObservableGauge;
  budgetLimit: ObservableGauge;
  budgetSoftLimit: ObservableGauge;
  /** Share of a model's request or token limit in use, by `retryscope.ratelimit.kind`. */
  ratelimitUtilization: Gauge;
  /** Every instrument is the API's no-op (no meter provider): recording them would build attributes for nothing. */
  off: boolean;
}

/** `gen_ai_latest_experimental`: inference operations' duration and tokens under their renamed metrics. */
export interface InferenceInstruments {
  duration: Histogram;
  usageInputTokens: Counter;
  usageOutputTokens: Counter;
  operationInputTokens: Histogram;
  operationOutputTokens: Histogram;
}

/**
 * The instruments from `meterProvider` (the global one when absent). A
 * provider that throws while handing them out costs one warning, and the
 * instruments record nothing: telemetry failing never fails the caller.
 */
export function createInstruments(
  meterProvider?: MeterProvider,
  naming: GenAiNaming = 'default',
): Instruments {
  return (
    safely('getMeter', () =>
      instrumentsOf((meterProvider ?? metrics).getMeter('retryscope', VERSION), naming),
    ) ?? instrumentsOf(createNoopMeter(), naming)
  );
}

// The API's no-op instruments are singletons: one of each kind tells a no-op meter apart.
const noop = createNoopMeter();
const NOOP = new Set<unknown>([
  noop.createCounter('x'),
  noop.createHistogram('x'),
  noop.createGauge('x'),
  noop.createObservableGauge('x'),
]);

function instrumentsOf(meter: Meter, naming: GenAiNaming): Instruments {
  const instruments = made(meter);
  // Only the naming's own instruments are created: the other naming's names never reach the meter.
  const names =
    naming === 'latest' ? { inference: inferenceInstruments(meter) } : { tokenUsage: tokenUsage(meter) };
  const all = [...Object.values(instruments), ...Object.values(names.inference ?? names)];
  return { ...instruments, ...names, off: all.every((i) => NOOP.has(i)) };
}

const tokenHistogram = (meter: Meter, name: string, description: string) =>
  meter.createHistogram(name, {
    unit: '{token}',
    description,
    advice: { explicitBucketBoundaries: A.TOKEN_USAGE_BUCKETS },
  });

const tokenUsage = (meter: Meter) =>
  tokenHistogram(meter, A.METRIC_TOKEN_USAGE, 'Tokens used per operation, by gen_ai.token.type.');

function inferenceInstruments(meter: Meter): InferenceInstruments {
  return {
    duration: meter.createHistogram(A.METRIC_INFERENCE_DURATION, {
      unit: 's',
      description: 'Duration of GenAI inference operations, all attempts and waits included.',
      advice: { explicitBucketBoundaries: A.OPERATION_DURATION_BUCKETS },
    }),
    usageInputTokens: meter.createCounter(A.METRIC_USAGE_INPUT_TOKENS, {
      unit: '{token}',
      description: 'Input tokens used by inference operations, by gen_ai.token.modality.',
    }),
    usageOutputTokens: meter.createCounter(A.METRIC_USAGE_OUTPUT_TOKENS, {
      unit: '{token}',
      description: 'Output tokens used by inference operations, by gen_ai.token.modality.',
    }),
    operationInputTokens: tokenHistogram(
      meter,
      A.METRIC_OPERATION_INPUT_TOKENS,
      'Input tokens per inference operation.',
    ),
    operationOutputTokens: tokenHistogram(
      meter,
      A.METRIC_OPERATION_OUTPUT_TOKENS,
      'Output tokens per inference operation.',
    ),
  };
}

function made(meter: Meter): Omit<Instruments, 'off' | 'tokenUsage' | 'inference'> {
  return {
    operationDuration: meter.createHistogram(A.METRIC_OPERATION_DURATION, {
      unit: 's',
      description: 'Duration of GenAI operations, all attempts and waits included.',
      advice: { explicitBucketBoundaries: A.OPERATION_DURATION_BUCKETS },
    }),
    attempts: meter.createCounter(A.METRIC_ATTEMPTS, {
      unit: '{attempt}',
      description: 'HTTP attempts, by attempt outcome, error.type and status.',
    }),
    backoff: meter.createHistogram(A.METRIC_BACKOFF, {
      unit: 's',
      description: 'Waits taken before retries, by backoff source and retry reason.',
      advice: { explicitBucketBoundaries: A.BACKOFF_BUCKETS },
    }),
    quotaExhausted: meter.createCounter(A.METRIC_QUOTA_EXHAUSTED, {
      unit: '{event}',
      description: 'Attempts answered with insufficient_quota.',
    }),
    remainingRequests: meter.createGauge(A.METRIC_RATELIMIT_REMAINING_REQUESTS, {
      unit: '{request}',
      description: 'Last x-ratelimit-remaining-requests seen.',
    }),
    remainingTokens: meter.createGauge(A.METRIC_RATELIMIT_REMAINING_TOKENS, {
      unit: '{token}',
      description: 'Last x-ratelimit-remaining-tokens seen.',
    }),
    resetRequests: meter.createGauge(A.METRIC_RATELIMIT_RESET_REQUESTS, {
      unit: 's',
      description: 'Last x-ratelimit-reset-requests seen.',
    }),
    resetTokens: meter.createGauge(A.METRIC_RATELIMIT_RESET_TOKENS, {
      unit: 's',
      description: 'Last x-ratelimit-reset-tokens seen.',
    }),
    queueDuration: meter.createHistogram(A.METRIC_QUEUE_DURATION, {
      unit: 's',
      description: 'Time calls waited in the client-side limiter queue.',
      advice: { explicitBucketBoundaries: A.BACKOFF_BUCKETS },
    }),
    limiterRejected: meter.createCounter(A.METRIC_LIMITER_REJECTED, {
      unit: '{call}',
      description: 'Calls the client-side limiter refused.',
    }),
    storeFallbacks: meter.createCounter(A.METRIC_LIMITER_STORE_FALLBACKS, {
      unit: '{call}',
      description:
        'Calls paced by their own limiter because the shared (Redis) store did not answer in time.',
    }),
    queueDepth: meter.createGauge(A.METRIC_QUEUE_DEPTH, {
      unit: '{call}',
      description: 'Calls waiting in the client-side limiter queue.',
    }),
    limiterRate: meter.createGauge(A.METRIC_LIMITER_RATE, {
      unit: '{request}/s',
      description: "The client-side limiter's current send rate.",
    }),
    retryBudgetRemaining: meter.createGauge(A.METRIC_RETRY_BUDGET_REMAINING, {
      unit: '{token}',
      description: 'Retries the retry budget still allows.',
    }),
    circuitState: meter.createGauge(A.METRIC_CIRCUIT_STATE, {
      description: `Circuit breaker state: ${A.CIRCUIT_STATES_TEXT}.`,
    }),
    fallbacks: meter.createCounter(A.METRIC_FALLBACKS, {
      unit: '{call}',
      description: 'Calls served by a fallback, by reason and serving model.',
    }),
    finishReasons: meter.createCounter(A.METRIC_FINISH_REASONS, {
      unit: '{choice}',
      description: 'Chat answers (one per choice) by finish reason.',
    }),
    tokens: meter.createCounter(A.METRIC_TOKENS, {
      unit: '{token}',
      description:
        'Tokens of every attempt that reported usage, by retryscope.token.type (input includes cache_read, output includes reasoning).',
    }),
    cost: meter.createCounter(A.METRIC_COST, {
      unit: '{USD}',
      description: 'What priced attempts cost in US dollars, by model, served tier and attempt outcome.',
    }),
    budgetUsed: meter.createObservableGauge(A.METRIC_BUDGET_USED, {
      unit: '1',
      description: 'Share of a spend budget used in its current period, by period (and tag).',
    }),
    budgetLimit: meter.createObservableGauge(A.METRIC_BUDGET_LIMIT, {
      unit: '{USD}',
      description: "A spend budget's limit per period.",
    }),
    budgetSoftLimit: meter.createObservableGauge(A.METRIC_BUDGET_SOFT_LIMIT, {
      unit: '1',
      description: 'The share of a spend budget at which it warns.',
    }),
    ratelimitUtilization: meter.createGauge(A.METRIC_RATELIMIT_UTILIZATION, {
      unit: '1',
      description:
        "Share of a model's request or token limit in use (1 - remaining / limit), by retryscope.ratelimit.kind.",
    }),
  };
}

/** One count per chat choice by its finish reason, from a closed set so it can be a label. */
export function countFinishReasons(
  counter: Counter,
  reasons: readonly string[] | undefined,
  attributes: Attributes,
  ctx: Context,
): void {
  const known: readonly string[] = A.FINISH_REASONS;
  for (const reason of reasons ?? [])
    counter.add(1, { ...attributes, [A.ATTR_FINISH_REASON]: known.includes(reason) ? reason : A.OTHER }, ctx);
}
