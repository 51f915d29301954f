import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type OpenAI from 'openai';
import type { CircuitBreakerOptions } from './policy/circuit-breaker.ts';
import type { Clock } from './policy/clock.ts';
import type { LimiterOptions } from './policy/limiter.ts';
import type { RetryBudgetOptions } from './policy/retry-budget.ts';
import type { RetryPolicyOptions } from './policy/retry-policy.ts';
import type { Jitter, Outcome } from './policy/types.ts';

/** A place to send the call when the primary cannot serve it. */
export interface FallbackTarget {
  /** Ask for this model instead (default: the same model). */
  model?: string;
  /** Send through this client instead (another deployment or provider). Its own retries are switched off. */
  client?: OpenAI;
}

/** What `degrade` is told when every hop failed. */
export interface DegradeContext {
  error: unknown;
  /** The request body the caller sent. */
  request: unknown;
  outcome: Outcome;
}

/** Options of `instrument()`. Every field is optional; see the README for why each default is what it is. */
export interface RetryscopeOptions {
  /** Attempts in all, the first included. Default 4. */
  maxAttempts?: number;
  /** Exponential backoff between attempts when the server gives no Retry-After. */
  backoff?: { initialMs?: number; maxMs?: number; jitter?: Jitter };
  /** The largest server-requested wait honoured; a longer one means giving up now. Default 60 000. */
  maxRetryAfterMs?: number;
  /** Budget for the whole call, attempts and waits included. Default: none. */
  deadlineMs?: number;
  /** Default: the global tracer provider. */
  tracerProvider?: TracerProvider;
  /** Default: the global meter provider. */
  meterProvider?: MeterProvider;
  /** Record prompts and completions on spans. Off by default: they may hold personal data. */
  captureContent?: boolean;
  /**
   * Refuse, before sending, what the API would reject with a 400 (missing model, empty messages,
   * out-of-range parameters, a prompt too long for the model's context window). Default on.
   * `contextWindows` adds or overrides models' windows, in tokens.
   */
  validate?: boolean | { contextWindows?: Readonly<Record<string, number>> };
  /**
   * Client-side pacing to the server's rate limit, learned from x-ratelimit-* headers and 429s.
   * Default on. `shareAcrossClients: true` shares one limiter among clients with the same API key.
   */
  limiter?: false | (LimiterOptions & { shareAcrossClients?: boolean });
  /** Caps how many retries failures may cause (AWS standard mode). Default on. */
  retryBudget?: false | RetryBudgetOptions;
  /** Stops sending to an upstream that is failing with 5xx or timeouts. Default on. */
  circuitBreaker?: false | CircuitBreakerOptions;
  /** Tried in order when the primary fails with an outcome in `fallbackOn`, each with its own attempts. */
  fallbacks?: FallbackTarget[];
  /** Outcomes that move on to the next fallback. Default: retries_exhausted, quota_exhausted, deadline_exceeded, circuit_open. */
  fallbackOn?: Outcome[];
  /** Last resort when every hop failed: its return value is what the caller gets. */
  degrade?: (context: DegradeContext) => unknown;
  /** For tests: the clock used for waits and deadlines. */
  clock?: Clock;
  /** For tests: the source of jitter, returning [0, 1). */
  random?: () => number;
}

export interface ResolvedOptions extends RetryPolicyOptions {
  validate: false | { contextWindows?: Readonly<Record<string, number>> };
  limiter: false | (LimiterOptions & { shareAcrossClients?: boolean });
  retryBudget: false | RetryBudgetOptions;
  circuitBreaker: false | CircuitBreakerOptions;
  fallbacks: FallbackTarget[];
  fallbackOn: Outcome[];
  degrade?: (context: DegradeContext) => unknown;
  tracerProvider?: TracerProvider;
  meterProvider?: MeterProvider;
  captureContent: boolean;
  clock?: Clock;
  random?: () => number;
}

export const DEFAULTS = {
  maxAttempts: 4,
  backoff: { initialMs: 500, maxMs: 20_000, jitter: 'full' as Jitter },
  maxRetryAfterMs: 60_000,
  // The outcomes another model or deployment can fix; a 400 or 401 would fail there too.
  fallbackOn: ['retries_exhausted', 'quota_exhausted', 'deadline_exceeded', 'circuit_open'] as Outcome[],
} as const;

const OUTCOMES: readonly Outcome[] = [
  'retries_exhausted',
  'non_retryable',
  'quota_exhausted',
  'deadline_exceeded',
  'aborted',
  'invalid_request',
  'circuit_open',
  'queue_full',
];

const JITTERS: readonly Jitter[] = ['full', 'equal', 'decorrelated', 'none'];
const KNOWN_KEYS = new Set<string>([
  'maxAttempts',
  'backoff',
  'maxRetryAfterMs',
  'deadlineMs',
  'tracerProvider',
  'meterProvider',
  'captureContent',
  'validate',
  'limiter',
  'retryBudget',
  'circuitBreaker',
  'fallbacks',
  'fallbackOn',
  'degrade',
  'clock',
  'random',
]);
const BACKOFF_KEYS = new Set(['initialMs', 'maxMs', 'jitter']);

/** Thrown by `instrument()` for options it cannot honour. Nothing is half-configured. */
export class RetryscopeConfigError extends TypeError {
  override name = 'RetryscopeConfigError';
}

/** Validates and fills in defaults; throws `RetryscopeConfigError` naming the bad option. */
export function resolveOptions(input: RetryscopeOptions = {}, base?: ResolvedOptions): ResolvedOptions {
  if (input === null || typeof input !== 'object') fail('options', 'must be an object', input);
  for (const key of Object.keys(input)) {
    if (!KNOWN_KEYS.has(key)) fail(key, `is not an option (known: ${[...KNOWN_KEYS].join(', ')})`);
  }
  const backoffIn = input.backoff ?? {};
  if (backoffIn === null || typeof backoffIn !== 'object') fail('backoff', 'must be an object', backoffIn);
  for (const key of Object.keys(backoffIn)) {
    if (!BACKOFF_KEYS.has(key)) fail(`backoff.${key}`, 'is not an option (known: initialMs, maxMs, jitter)');
  }

  const prev: ResolvedOptions = base ?? {
    ...DEFAULTS,
    backoff: { ...DEFAULTS.backoff },
    fallbackOn: [...DEFAULTS.fallbackOn],
    fallbacks: [],
    captureContent: false,
    validate: {},
    limiter: {},
    retryBudget: {},
    circuitBreaker: {},
  };
  const maxAttempts = input.maxAttempts ?? prev.maxAttempts;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
    fail('maxAttempts', 'must be an integer >= 1', maxAttempts);

  const initialMs = backoffIn.initialMs ?? prev.backoff.initialMs;
  const maxMs = backoffIn.maxMs ?? prev.backoff.maxMs;
  const jitter = backoffIn.jitter ?? prev.backoff.jitter;
  checkNonNegative('backoff.initialMs', initialMs);
  checkNonNegative('backoff.maxMs', maxMs);
  if (maxMs < initialMs) fail('backoff.maxMs', `must be >= backoff.initialMs (${initialMs})`, maxMs);
  if (!JITTERS.includes(jitter)) fail('backoff.jitter', `must be one of ${JITTERS.join(', ')}`, jitter);

  const maxRetryAfterMs = input.maxRetryAfterMs ?? prev.maxRetryAfterMs;
  checkNonNegative('maxRetryAfterMs', maxRetryAfterMs);

  const deadlineMs = 'deadlineMs' in input ? input.deadlineMs : prev.deadlineMs;
  if (deadlineMs !== undefined && (!Number.isFinite(deadlineMs) || deadlineMs <= 0)) {
    fail('deadlineMs', 'must be a positive number of milliseconds', deadlineMs);
  }
  const captureContent = input.captureContent ?? prev.captureContent;
  if (typeof captureContent !== 'boolean') fail('captureContent', 'must be a boolean', captureContent);
  if (
    input.clock !== undefined &&
    (typeof input.clock?.now !== 'function' || typeof input.clock.sleep !== 'function')
  ) {
    fail('clock', 'must have now() and sleep(ms, signal)');
  }
  if (input.random !== undefined && typeof input.random !== 'function') fail('random', 'must be a function');
  const fallbacks = input.fallbacks ?? prev.fallbacks;
  if (!Array.isArray(fallbacks)) fail('fallbacks', 'must be an array of { model?, client? }');
  fallbacks.forEach((f, i) => {
    if (f === null || typeof f !== 'object') fail(`fallbacks[${i}]`, 'must be an object { model?, client? }');
    if (f.model === undefined && f.client === undefined)
      fail(`fallbacks[${i}]`, 'needs a model, a client, or both');
    if (f.model !== undefined && (typeof f.model !== 'string' || f.model === '')) {
      fail(`fallbacks[${i}].model`, 'must be a non-empty string', f.model);
    }
    if (
      f.client !== undefined &&
      typeof (f.client as { withOptions?: unknown })?.withOptions !== 'function'
    ) {
      fail(`fallbacks[${i}].client`, 'must be an openai client (new OpenAI(), new AzureOpenAI())');
    }
  });
  const fallbackOn = input.fallbackOn ?? prev.fallbackOn;
  if (!Array.isArray(fallbackOn)) fail('fallbackOn', `must be an array of outcomes (${OUTCOMES.join(', ')})`);
  for (const outcome of fallbackOn) {
    if (!OUTCOMES.includes(outcome))
      fail('fallbackOn', `has an unknown outcome; known: ${OUTCOMES.join(', ')}`, outcome);
  }
  const validate = mechanism('validate', input.validate, prev.validate);
  if (validate && validate.contextWindows !== undefined) {
    const windows = validate.contextWindows;
    if (windows === null || typeof windows !== 'object')
      fail('validate.contextWindows', 'must map model names to token counts');
    for (const [model, n] of Object.entries(windows)) {
      if (typeof n !== 'number' || !(n > 0))
        fail(`validate.contextWindows.${model}`, 'must be a positive number of tokens', n);
    }
  }
  const limiter = mechanism('limiter', input.limiter, prev.limiter);
  const retryBudget = mechanism('retryBudget', input.retryBudget, prev.retryBudget);
  const circuitBreaker = mechanism('circuitBreaker', input.circuitBreaker, prev.circuitBreaker);
  const degrade = input.degrade ?? prev.degrade;
  if (degrade !== undefined && typeof degrade !== 'function') fail('degrade', 'must be a function');
  checkProvider('tracerProvider', input.tracerProvider, 'getTracer');
  checkProvider('meterProvider', input.meterProvider, 'getMeter');

  return {
    maxAttempts,
    backoff: { initialMs, maxMs, jitter },
    maxRetryAfterMs,
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
    captureContent,
    validate,
    limiter,
    retryBudget,
    circuitBreaker,
    fallbacks,
    fallbackOn,
    ...pick('degrade', degrade),
    ...pick('tracerProvider', input.tracerProvider ?? prev.tracerProvider),
    ...pick('meterProvider', input.meterProvider ?? prev.meterProvider),
    ...pick('clock', input.clock ?? prev.clock),
    ...pick('random', input.random ?? prev.random),
  };
}

/** A mechanism's setting: `false` (off), or its options (on); `true` means on with defaults. */
function mechanism<T extends object>(
  name: string,
  value: false | T | true | undefined,
  previous: false | T,
): false | T {
  if (value === undefined) return previous;
  if (value === false) return false;
  if (value === true) return {} as T;
  if (value === null || typeof value !== 'object')
    fail(name, 'must be false (off) or an options object', value);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === 'number' && !(Number.isFinite(v) && v >= 0))
      fail(`${name}.${key}`, 'must be a finite number >= 0', v);
  }
  return value;
}

function pick<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function checkNonNegative(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(name, 'must be a finite number >= 0', value);
  }
}

function checkProvider(name: string, value: unknown, method: string): void {
  if (value === undefined) return;
  if (value === null || typeof (value as Record<string, unknown>)[method] !== 'function') {
    fail(name, `must be an OpenTelemetry ${name} (with ${method}())`);
  }
}

function fail(name: string, why: string, ...value: unknown[]): never {
  const shown = value.length > 0 ? ` (got ${JSON.stringify(value[0]) ?? String(value[0])})` : '';
  throw new RetryscopeConfigError(`retryscope: option "${name}" ${why}${shown}`);
}
