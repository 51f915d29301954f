import type { Counter, Gauge, Histogram, Meter, MeterProvider } from '@opentelemetry/api';
import { createNoopMeter, metrics } from '@opentelemetry/api';
import { VERSION } from '../version.ts';
import * as A from './attributes.ts';
import { safely } from './safely.ts';

/** The metric instruments of one instrumented client. */
export interface Instruments {
  operationDuration: Histogram;
  tokenUsage: Histogram;
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
  /** Every instrument is the API's no-op (no meter provider): recording them would build attributes for nothing. */
  off: boolean;
}

/**
 * The instruments from `meterProvider` (the global one when absent). A
 * provider that throws while handing them out costs one warning, and the
 * instruments record nothing: telemetry failing never fails the caller.
 */
export function createInstruments(meterProvider?: MeterProvider): Instruments {
  return (
    safely('getMeter', () => instrumentsOf((meterProvider ?? metrics).getMeter('retryscope', VERSION))) ??
    instrumentsOf(createNoopMeter())
  );
}

// The API's no-op instruments are singletons: one of each kind tells a no-op meter apart.
const noop = createNoopMeter();
const NOOP = new Set<unknown>([noop.createCounter('x'), noop.createHistogram('x'), noop.createGauge('x')]);

function instrumentsOf(meter: Meter): Instruments {
  const instruments = made(meter);
  return { ...instruments, off: Object.values(instruments).every((i) => NOOP.has(i)) };
}

function made(meter: Meter): Omit<Instruments, 'off'> {
  return {
    operationDuration: meter.createHistogram(A.METRIC_OPERATION_DURATION, {
      unit: 's',
      description: 'Duration of GenAI operations, all attempts and waits included.',
      advice: { explicitBucketBoundaries: A.OPERATION_DURATION_BUCKETS },
    }),
    tokenUsage: meter.createHistogram(A.METRIC_TOKEN_USAGE, {
      unit: '{token}',
      description: 'Tokens used per operation, by gen_ai.token.type.',
      advice: { explicitBucketBoundaries: A.TOKEN_USAGE_BUCKETS },
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
  };
}
