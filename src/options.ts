import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type OpenAI from 'openai';
import { type CircuitBreakerOptions, DEFAULT_OPEN_MS } from './policy/circuit-breaker.ts';
import type { Clock } from './policy/clock.ts';
import type { LimiterOptions } from './policy/limiter.ts';
import type { RetryBudgetOptions } from './policy/retry-budget.ts';
import type { RetryPolicyOptions } from './policy/retry-policy.ts';
import type { Jitter, Outcome } from './policy/types.ts';

/** The limiter's options, and whether clients with the same API key share one. */
export type LimiterSetting = LimiterOptions & {
  /**
   * Share one limiter among clients with the same API key.
   * @default false
   */
  shareAcrossClients?: boolean;
};

/** Pre-flight validation's options. */
export interface ValidateSetting {
  /**
   * Context windows in tokens, merged over the built-in table; `Infinity` switches a model's check off.
   * @default {}
   */
  contextWindows?: Readonly<Record<string, number>>;
}

/** A place to send the call when the primary cannot serve it. */
export interface FallbackTarget {
  /**
   * Ask for this model instead.
   * @default the same model as the primary
   */
  model?: string;
  /**
   * Send through this client instead (another deployment or provider). Its own retries are switched off.
   * @default the primary's client
   */
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
  /**
   * Attempts in all, the first included.
   * @default 4
   */
  maxAttempts?: number;
  /**
   * Exponential backoff between attempts when the server gives no Retry-After.
   * @default { initialMs: 500, maxMs: 20_000, jitter: 'full' }
   */
  backoff?: { initialMs?: number; maxMs?: number; jitter?: Jitter };
  /**
   * The largest server-requested wait honoured; a longer one means giving up now.
   * @default 60_000
   */
  maxRetryAfterMs?: number;
  /**
   * Budget for the whole call, attempts and waits included.
   * @default undefined (none)
   */
  deadlineMs?: number;
  /** @default the global tracer provider */
  tracerProvider?: TracerProvider;
  /** @default the global meter provider */
  meterProvider?: MeterProvider;
  /**
   * Record prompts and completions on spans. Off by default: they may hold personal data.
   * @default false
   */
  captureContent?: boolean;
  /**
   * Refuse, before sending, what the API would reject with a 400 (missing model, empty messages,
   * out-of-range parameters, a prompt too long for the model's context window).
   * `contextWindows` adds or overrides models' windows, in tokens (`Infinity`: no check).
   * @default true
   */
  validate?: boolean | ValidateSetting;
  /**
   * Client-side pacing to the server's rate limit, learned from x-ratelimit-* headers and 429s.
   * `shareAcrossClients: true` shares one limiter among clients with the same API key.
   * @default {} (on, every limiter option at its default)
   */
  limiter?: false | LimiterSetting;
  /**
   * Caps how many retries failures may cause (AWS standard mode).
   * @default {} (on)
   */
  retryBudget?: false | RetryBudgetOptions;
  /**
   * Stops sending to an upstream that is failing with 5xx or timeouts.
   * @default {} (on)
   */
  circuitBreaker?: false | CircuitBreakerOptions;
  /**
   * Tried in order when the primary fails with an outcome in `fallbackOn`, each with its own attempts.
   * @default []
   */
  fallbacks?: FallbackTarget[];
  /**
   * Outcomes that move on to the next fallback.
   * @default ['retries_exhausted', 'quota_exhausted', 'deadline_exceeded', 'circuit_open']
   */
  fallbackOn?: Outcome[];
  /**
   * Last resort when every hop failed: its return value is what the caller gets.
   * @default undefined (the error is thrown)
   */
  degrade?: (context: DegradeContext) => unknown;
  /**
   * For tests: the clock used for waits and deadlines.
   * @default the system clock
   */
  clock?: Clock;
  /**
   * For tests: the source of jitter, returning [0, 1).
   * @default Math.random
   */
  random?: () => number;
}

export interface ResolvedOptions extends RetryPolicyOptions {
  validate: false | ValidateSetting;
  limiter: false | LimiterSetting;
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

// --- the one source of what each option may be ---

/** Checks one value; throws RetryscopeConfigError naming the option. */
type Check = (name: string, value: unknown) => void;
/** A check for every key of T, and no other: the compiler keeps this in step with the types. */
type Rules<T> = { readonly [K in keyof Required<T>]: Check };

// Top-level options are resolved one by one below; this lists them for the unknown-key check.
const OPTION_KEYS = {
  maxAttempts: true,
  backoff: true,
  maxRetryAfterMs: true,
  deadlineMs: true,
  tracerProvider: true,
  meterProvider: true,
  captureContent: true,
  validate: true,
  limiter: true,
  retryBudget: true,
  circuitBreaker: true,
  fallbacks: true,
  fallbackOn: true,
  degrade: true,
  clock: true,
  random: true,
} as const satisfies { readonly [K in keyof Required<RetryscopeOptions>]: true };

const BACKOFF_RULES = {
  initialMs: number({ min: 0 }),
  maxMs: number({ min: 0 }),
  jitter: oneOf(JITTERS),
} as const satisfies Rules<NonNullable<RetryscopeOptions['backoff']>>;

// Each range is exactly what the mechanism's constructor works with: nothing it would clamp is accepted.
const LIMITER_RULES = {
  initialRpm: number({ above: 0 }),
  initialTpm: number({ above: 0 }),
  maxQueue: number({ min: 0, integer: true }),
  maxSleepMs: number({ min: 1 }),
  burstMs: number({ min: 0 }),
  safetyMargin: number({ min: 0, max: 0.5 }),
  beta: number({ min: 0.05, max: 1 }),
  cubicScale: number({ min: 1e-6 }),
  minRatePerSec: number({ min: 1e-6 }),
  cutCooldownMs: number({ min: 0 }),
  shareAcrossClients: boolean,
} as const satisfies Rules<LimiterSetting>;

const RETRY_BUDGET_RULES = {
  capacity: number({ min: 0 }),
  retryCost: number({ min: 0 }),
  timeoutRetryCost: number({ min: 0 }),
  successRefund: number({ min: 0 }),
  rateLimitedRetryCost: number({ min: 0 }),
} as const satisfies Rules<RetryBudgetOptions>;

const CIRCUIT_BREAKER_RULES = {
  failureThreshold: number({ above: 0, max: 1 }),
  windowMs: number({ min: 1 }),
  minimumCalls: number({ min: 1, integer: true }),
  openMs: number({ min: 0 }),
  maxOpenMs: number({ min: 0 }),
  halfOpenProbes: number({ min: 1, integer: true }),
  probeLeaseMs: number({ min: 0 }),
} as const satisfies Rules<CircuitBreakerOptions>;

const VALIDATE_RULES = {
  contextWindows: (name, windows) => {
    if (windows === null || typeof windows !== 'object' || Array.isArray(windows))
      fail(name, 'must map model names to token counts', windows);
    for (const [model, n] of Object.entries(windows)) {
      // Infinity is allowed: it switches the model's check off.
      if (typeof n !== 'number' || !(n > 0))
        fail(`${name}.${model}`, 'must be a positive number of tokens, or Infinity for no check', n);
    }
  },
} as const satisfies Rules<ValidateSetting>;

const FALLBACK_RULES = {
  model: (name, model) => {
    if (typeof model !== 'string' || model === '') fail(name, 'must be a non-empty string', model);
  },
  client: (name, client) => {
    if (!isOpenAIClient(client))
      fail(name, 'must be an openai client (new OpenAI(), new AzureOpenAI())', kindOf(client));
  },
} as const satisfies Rules<FallbackTarget>;

/** Thrown by `instrument()` for options it cannot honour. Nothing is half-configured. */
export class RetryscopeConfigError extends TypeError {
  override name = 'RetryscopeConfigError';
}

/** Validates and fills in defaults; throws `RetryscopeConfigError` naming the bad option. */
export function resolveOptions(input: RetryscopeOptions = {}, base?: ResolvedOptions): ResolvedOptions {
  if (input === null || typeof input !== 'object') fail('options', 'must be an object', input);
  checkKeys('', input, OPTION_KEYS);
  const backoffIn = input.backoff ?? {};
  if (backoffIn === null || typeof backoffIn !== 'object') fail('backoff', 'must be an object', backoffIn);
  checkFields('backoff', backoffIn, BACKOFF_RULES);

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
  number({ min: 1, integer: true })('maxAttempts', maxAttempts);

  const initialMs = backoffIn.initialMs ?? prev.backoff.initialMs;
  const maxMs = backoffIn.maxMs ?? prev.backoff.maxMs;
  const jitter = backoffIn.jitter ?? prev.backoff.jitter;
  if (maxMs < initialMs) fail('backoff.maxMs', `must be >= backoff.initialMs (${initialMs})`, maxMs);

  const maxRetryAfterMs = input.maxRetryAfterMs ?? prev.maxRetryAfterMs;
  number({ min: 0 })('maxRetryAfterMs', maxRetryAfterMs);

  const deadlineMs = 'deadlineMs' in input ? input.deadlineMs : prev.deadlineMs;
  if (deadlineMs !== undefined && (!Number.isFinite(deadlineMs) || !(deadlineMs > 0)))
    fail('deadlineMs', 'must be a positive number of milliseconds', deadlineMs);
  const captureContent = input.captureContent ?? prev.captureContent;
  boolean('captureContent', captureContent);
  if (
    input.clock !== undefined &&
    (typeof input.clock?.now !== 'function' || typeof input.clock.sleep !== 'function')
  ) {
    fail('clock', 'must have now() and sleep(ms, signal)');
  }
  if (input.random !== undefined && typeof input.random !== 'function') fail('random', 'must be a function');
  const fallbacks = input.fallbacks ?? prev.fallbacks;
  if (!Array.isArray(fallbacks)) fail('fallbacks', 'must be an array of { model?, client? }', fallbacks);
  fallbacks.forEach((f: unknown, i) => {
    const at = `fallbacks[${i}]`;
    if (f === null || typeof f !== 'object') fail(at, 'must be an object { model?, client? }', f);
    const { model, client } = f as FallbackTarget;
    if (model === undefined && client === undefined) fail(at, 'needs a model, a client, or both');
    checkFields(at, f, FALLBACK_RULES);
  });
  const fallbackOn = input.fallbackOn ?? prev.fallbackOn;
  if (!Array.isArray(fallbackOn))
    fail('fallbackOn', `must be an array of outcomes (${OUTCOMES.join(', ')})`, fallbackOn);
  fallbackOn.forEach((outcome, i) => {
    if (!OUTCOMES.includes(outcome))
      fail(`fallbackOn[${i}]`, `is not an outcome; known: ${OUTCOMES.join(', ')}`, outcome);
  });
  const validate = mechanism('validate', input.validate, prev.validate, VALIDATE_RULES);
  const limiter = mechanism('limiter', input.limiter, prev.limiter, LIMITER_RULES);
  const retryBudget = mechanism('retryBudget', input.retryBudget, prev.retryBudget, RETRY_BUDGET_RULES);
  const circuitBreaker = mechanism(
    'circuitBreaker',
    input.circuitBreaker,
    prev.circuitBreaker,
    CIRCUIT_BREAKER_RULES,
  );
  if (circuitBreaker && circuitBreaker.maxOpenMs !== undefined) {
    const openMs = circuitBreaker.openMs ?? DEFAULT_OPEN_MS;
    if (circuitBreaker.maxOpenMs < openMs)
      fail(
        'circuitBreaker.maxOpenMs',
        `must be >= circuitBreaker.openMs (${openMs})`,
        circuitBreaker.maxOpenMs,
      );
  }
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

/**
 * Whether `value` is an `openai` client retryscope can drive: it reaches the
 * SDK's methods through the prototype (as an instance of `OpenAI` or
 * `AzureOpenAI` does, from any copy of the package) and has a base URL.
 */
export function isOpenAIClient(value: unknown): value is OpenAI {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as Record<string, unknown> | null;
  return (
    proto !== null &&
    typeof proto.withOptions === 'function' &&
    typeof proto.post === 'function' &&
    typeof proto.requestAPIList === 'function' &&
    typeof (value as { baseURL?: unknown }).baseURL === 'string'
  );
}

/** A mechanism's setting: `false` (off), or its options (on); `true` means on with defaults. */
function mechanism<T extends object>(
  name: string,
  value: false | T | true | undefined,
  previous: false | T,
  rules: { readonly [key: string]: Check },
): false | T {
  if (value === undefined) return previous;
  if (value === false) return false;
  if (value === true) return {} as T;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    fail(name, 'must be false (off), true (on) or an options object', value);
  checkFields(name, value, rules);
  return value;
}

/** Rejects keys with no rule, then checks each key that is set. */
function checkFields(name: string, value: object, rules: { readonly [key: string]: Check }): void {
  checkKeys(name, value, rules);
  for (const [key, v] of Object.entries(value)) {
    if (v !== undefined) rules[key]!(`${name}.${key}`, v);
  }
}

function checkKeys(name: string, value: object, known: object): void {
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(known, key))
      fail(name ? `${name}.${key}` : key, `is not an option (known: ${Object.keys(known).join(', ')})`);
  }
}

function number(spec: { min?: number; above?: number; max?: number; integer?: boolean }): Check {
  const kind = spec.integer ? 'an integer' : 'a finite number';
  const bounds =
    spec.min !== undefined && spec.max !== undefined
      ? [`from ${spec.min} to ${spec.max}`]
      : [
          spec.above !== undefined ? `> ${spec.above}` : undefined,
          spec.min !== undefined ? `>= ${spec.min}` : undefined,
          spec.max !== undefined ? `<= ${spec.max}` : undefined,
        ].filter((b) => b !== undefined);
  const why = `must be ${kind}${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
  return (name, value) => {
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      (spec.integer && !Number.isInteger(value)) ||
      (spec.above !== undefined && !(value > spec.above)) ||
      (spec.min !== undefined && !(value >= spec.min)) ||
      (spec.max !== undefined && !(value <= spec.max))
    )
      fail(name, why, value);
  };
}

function boolean(name: string, value: unknown): void {
  if (typeof value !== 'boolean') fail(name, 'must be a boolean', value);
}

function oneOf(values: readonly string[]): Check {
  return (name, value) => {
    if (!values.includes(value as string)) fail(name, `must be one of ${values.join(', ')}`, value);
  };
}

function pick<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function checkProvider(name: string, value: unknown, method: string): void {
  if (value === undefined) return;
  if (value === null || typeof (value as Record<string, unknown>)[method] !== 'function') {
    fail(name, `must be an OpenTelemetry ${name} (with ${method}())`);
  }
}

// A marker for values shown by what they are, not by their contents (clients hold keys).
class Kind {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

function kindOf(value: unknown): Kind {
  if (value === null) return new Kind('null');
  if (typeof value !== 'object') return new Kind(typeof value);
  return new Kind(`an object of class ${(value as object).constructor?.name ?? 'none'}`);
}

function fail(name: string, why: string, ...value: unknown[]): never {
  const shown = value.length > 0 ? ` (got ${show(value[0])})` : '';
  throw new RetryscopeConfigError(`retryscope: option "${name}" ${why}${shown}`);
}

/** A value as the error shows it: NaN and Infinity by name (JSON would say null), long ones cut. */
function show(value: unknown): string {
  if (value instanceof Kind) return value.text;
  switch (typeof value) {
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'function':
      return 'a function';
    case 'symbol':
      return value.toString();
    case 'undefined':
      return 'undefined';
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // circular, or a throwing toJSON
  }
  text ??= Object.prototype.toString.call(value);
  return text.length <= 80 ? text : `${text.slice(0, 80)}…`;
}
