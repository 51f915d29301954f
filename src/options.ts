// size: the public option types (mostly their docs, with @default) beside the one rules table that checks them.
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type OpenAI from 'openai';
import type { RetryscopeHooks } from './hooks.ts';
import {
  boolean,
  type Check,
  checkFields,
  fail,
  fields,
  fn,
  kindOf,
  mechanism,
  number,
  oneOf,
  RetryscopeConfigError,
  type Rules,
} from './option-checks.ts';
import { type ModelGroups, modelGroupsProblem } from './policy/buckets.ts';
import { type CircuitBreakerOptions, DEFAULT_OPEN_MS } from './policy/circuit-breaker.ts';
import type { Clock } from './policy/clock.ts';
import type { LimiterOptions } from './policy/limiter.ts';
import type { LongContextPrice, ModelPrice } from './policy/pricing.ts';
import type { RetryBudgetOptions } from './policy/retry-budget.ts';
import { BUDGET_PERIODS, type BudgetSetting } from './policy/spend-budget.ts';
import { TAG_KEY_PATTERN } from './policy/tags.ts';
import { FAILURE_OUTCOMES, JITTERS, type Jitter, type Outcome } from './policy/types.ts';

export type { BudgetSetting };
export { RetryscopeConfigError };

/** The limiter's options, and whether clients with the same API key share one. */
export type LimiterSetting = LimiterOptions & {
  /**
   * Share one limiter among clients with the same API key.
   * @default false
   */
  shareAcrossClients?: boolean;
  /**
   * Models that share one rate limit, for providers that pool them: pool name → its models
   * (the pool's name is always one of them). The pool is one limiter bucket, and its name is
   * the `retryscope.limiter.bucket` label. Every other model is its own bucket, as OpenAI limits them.
   * @default {} (one bucket per model)
   */
  modelGroups?: ModelGroups;
  /**
   * Share every bucket's pacing, the pause after a 429 storm and quota exhaustion with every process
   * pointing at the same Redis: a `redis://` URL, or a node-redis / ioredis client you already have.
   * Redis down or slow never fails a call: it paces locally until Redis answers again.
   * @default undefined (each process paces alone)
   */
  redis?: string | object;
  /**
   * A Redis round trip slower than this counts as down: the call paces locally.
   * @default 50
   */
  redisTimeoutMs?: number;
  /**
   * After any process sees `insufficient_quota` for a key, the others fail fast this long (needs `redis`).
   * @default 60000
   */
  quotaCooldownMs?: number;
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
  backoff?: {
    /**
     * The cap of the first retry's wait; each retry doubles it.
     * @default 500
     */
    initialMs?: number;
    /**
     * No computed wait is longer (a server's Retry-After may be, up to `maxRetryAfterMs`).
     * @default 20_000
     */
    maxMs?: number;
    /**
     * How the wait is randomised under its cap: one of `JITTERS` (src/policy/types.ts).
     * @default 'full'
     */
    jitter?: Jitter;
  };
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
   * Record prompts and completions on spans (`gen_ai.input.messages`, `gen_ai.output.messages`,
   * `gen_ai.system_instructions`). Off by default: they may hold personal data. When not given,
   * `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true` (or `SPAN_ONLY`, `SPAN_AND_EVENT`) turns it on; this option wins.
   * @default false (or `true` when that variable says `true`)
   */
  captureContent?: boolean;
  /**
   * Prices in USD per 1M tokens by model (`{ input, output, cachedInput?, cacheWriteInput?, longContext?,
   * batch?, priority? }`, each tier `{ input, output, cachedInput?, cacheWriteInput?, longContext? }`,
   * `longContext` `{ aboveInputTokens, input, output, cachedInput?, cacheWriteInput? }`), merged over the
   * built-in table (generated from @pydantic/genai-prices);
   * `null` removes a model. A model found in neither gets no cost, and one warning.
   * `withRetryOptions` merges its prices over the client's.
   * @default {} (the built-in table only)
   */
  prices?: Readonly<Record<string, ModelPrice | null>>;
  /**
   * Refuse, before sending, what the API would reject with a 400 (missing model, empty messages,
   * out-of-range parameters, a prompt too long for the model's context window).
   * `contextWindows` adds or overrides models' windows, in tokens (`Infinity`: no check).
   * @default true
   */
  validate?: boolean | ValidateSetting;
  /**
   * Client-side pacing to the server's rate limit, learned from x-ratelimit-* headers and 429s.
   * One bucket per upstream, API key, organization/project and model (or `modelGroups` pool);
   * `shareAcrossClients: true` shares the buckets among clients with the same API key.
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
   * Outcomes that move on to the next fallback. Add `'invalid_request'` to send a request the
   * primary's model cannot take (pre-flight validation refused it) to the fallbacks instead, and
   * `'budget_exceeded'` to serve from them once a spend budget is gone (their spend still counts).
   * @default ['retries_exhausted', 'quota_exhausted', 'deadline_exceeded', 'circuit_open']
   */
  fallbackOn?: Outcome[];
  /**
   * Last resort when every hop failed: its return value is what the caller gets.
   * @default undefined (the error is thrown)
   */
  degrade?: (context: DegradeContext) => unknown;
  /**
   * Spend budgets: `{ usd, per }` (per `hour`, `day` or `month`, calendar periods in UTC, so every
   * process agrees when one starts), optionally per value of a `tag`. When one is spent, a call that
   * would spend (its request names a model) is refused unsent with `BudgetExceededError`
   * (outcome `budget_exceeded`), which `fallbackOn` can route to a fallback and `degrade` answer.
   * Shared by every process through `limiter.redis` when it is set. `false` turns them off.
   * @default undefined (no budget)
   */
  budget?: false | BudgetSetting | readonly BudgetSetting[];
  /**
   * Live callbacks: `onAttempt`, `onRetry`, `onFallback`, `onGiveUp`, told the facts the spans
   * record as they happen. A hook that throws or rejects never changes what the caller gets.
   * `withRetryOptions` merges its hooks over the client's (`undefined` removes one).
   * @default {} (none)
   */
  hooks?: RetryscopeHooks;
  /**
   * Attribution tags for this client's calls (`feature`, `tenant`), recorded as `retryscope.tag.<key>`
   * on operation spans and on the cost and token counters. Every key must be in `tagKeys`. A tag set
   * here wins over the same key in baggage. `withRetryOptions` merges its tags over the client's
   * (`undefined` removes one).
   * @default {} (none)
   */
  tags?: Readonly<Record<string, string | undefined>>;
  /**
   * The allow-list: the only tag keys ever recorded, from `tags` or from OpenTelemetry baggage
   * (`propagation.setBaggage(...)`); a baggage entry with another key is ignored. Keys are
   * lower-case letters, digits and `_`, starting with a letter, at most 32 characters.
   * @default [] (no tags recorded)
   */
  tagKeys?: readonly string[];
  /**
   * Distinct values recorded per tag key per client; later new values are recorded as `_OTHER`.
   * Each value is a time series on every cost and token counter, so a tag fed an id (a user, a
   * request) must stay bounded: 100 tenants or features is a dashboard, 100 000 is an outage of
   * the metrics backend.
   * @default 100
   */
  maxTagValues?: number;
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

/** Names `K` of `T`, checked: a misspelt or removed option is a compile error. */
type KeysOf<T, K extends keyof T> = K;

/** The mechanisms: `false` off, `true` on with defaults, or their options. */
type Mechanism = KeysOf<RetryscopeOptions, 'validate' | 'limiter' | 'retryBudget' | 'circuitBreaker'>;
/** The other options `resolveOptions` always fills in. */
type Filled = KeysOf<
  RetryscopeOptions,
  | 'maxAttempts'
  | 'maxRetryAfterMs'
  | 'captureContent'
  | 'fallbacks'
  | 'fallbackOn'
  | 'tagKeys'
  | 'maxTagValues'
  | 'prices'
>;

/**
 * The options as the mechanisms get them, derived from the public type: every
 * defaulted option present, a mechanism's `true` read as `{}`, backoff complete.
 */
export type ResolvedOptions = Omit<RetryscopeOptions, Filled | Mechanism | 'backoff' | 'tags'> & {
  [K in Filled]-?: NonNullable<RetryscopeOptions[K]>;
} & { [K in Mechanism]-?: Exclude<RetryscopeOptions[K], true | undefined> } & {
  backoff: Required<NonNullable<RetryscopeOptions['backoff']>>;
  /** Merged, with removed keys gone. */
  tags?: Readonly<Record<string, string>>;
};

export const DEFAULTS = {
  maxAttempts: 4,
  backoff: { initialMs: 500, maxMs: 20_000, jitter: 'full' as Jitter },
  maxRetryAfterMs: 60_000,
  // The outcomes another model or deployment can fix; a 400 or 401 would fail there too.
  fallbackOn: ['retries_exhausted', 'quota_exhausted', 'deadline_exceeded', 'circuit_open'] as Outcome[],
  tagKeys: [] as readonly string[],
  maxTagValues: 100,
} as const;

// --- the one source of what each option may be ---

const BACKOFF_RULES = {
  initialMs: number({ min: 0 }),
  maxMs: number({ min: 0 }),
  jitter: oneOf(JITTERS),
} as const satisfies Rules<NonNullable<RetryscopeOptions['backoff']>>;

// Each range is exactly what the mechanism's constructor works with: the constructors trust
// these options and clamp nothing, so nothing out of range may get through.
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
  coldStartProbes: number({ min: 0, integer: true }),
  coldStartHoldMs: number({ min: 0 }),
  shareAcrossClients: boolean,
  redis: (name, target) => {
    // Never echo the value: a URL may carry a password.
    const url = typeof target === 'string' && isRedisUrl(target);
    const client =
      target !== null &&
      typeof target === 'object' &&
      typeof (target as { eval?: unknown }).eval === 'function' &&
      (typeof (target as { evalSha?: unknown }).evalSha === 'function' ||
        typeof (target as { evalsha?: unknown }).evalsha === 'function');
    if (!url && !client)
      fail(name, 'must be a redis:// URL or a node-redis / ioredis client', kindOf(target));
  },
  redisTimeoutMs: number({ above: 0 }),
  quotaCooldownMs: number({ min: 0 }),
  modelGroups: (name, groups) => {
    const problem = modelGroupsProblem(groups);
    if (problem) fail(`${name}${problem.path}`, problem.message, ...(problem.path ? [] : [groups]));
  },
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

const RATE_RULES = {
  input: number({ min: 0 }),
  output: number({ min: 0 }),
  cachedInput: number({ min: 0 }),
  cacheWriteInput: number({ min: 0 }),
} as const;
const checkLongContext = fields(
  { ...RATE_RULES, aboveInputTokens: number({ min: 0, integer: true }) } satisfies Rules<LongContextPrice>,
  'an object { aboveInputTokens, input, output, cachedInput?, cacheWriteInput? }',
);
const TIER_RULES = {
  ...RATE_RULES,
  longContext: checkLongContext,
} as const satisfies Rules<NonNullable<ModelPrice['batch']>>;
const checkTier = fields(
  TIER_RULES,
  'an object { input, output, cachedInput?, cacheWriteInput?, longContext? } in USD per 1M tokens',
);
const PRICE_RULES = {
  ...TIER_RULES,
  batch: checkTier,
  priority: checkTier,
} as const satisfies Rules<ModelPrice>;
const checkPrice = fields(
  PRICE_RULES,
  'an object { input, output, cachedInput?, cacheWriteInput?, longContext?, batch?, priority? } or null',
);

function checkPrices(name: string, table: unknown): void {
  if (table === null || typeof table !== 'object' || Array.isArray(table))
    fail(name, 'must map model names to prices (USD per 1M tokens) or null', table);
  for (const [model, price] of Object.entries(table)) {
    if (price === null) continue;
    const at = `${name}.${model}`;
    checkPrice(at, price);
    const p = price as ModelPrice;
    for (const [where, t] of [
      ['', p],
      ['.batch', p.batch],
      ['.priority', p.priority],
      ['.longContext', p.longContext],
      ['.batch.longContext', p.batch?.longContext],
      ['.priority.longContext', p.priority?.longContext],
    ] as const) {
      if (t === undefined) continue;
      if (t.input === undefined || t.output === undefined)
        fail(`${at}${where}`, 'needs both input and output');
      if (where.endsWith('longContext') && (t as LongContextPrice).aboveInputTokens === undefined)
        fail(`${at}${where}`, 'needs aboveInputTokens');
    }
  }
}

const checkFallback = fields(FALLBACK_RULES, 'an object { model?, client? }');

const BUDGET_RULES = {
  usd: number({ above: 0 }),
  per: oneOf(BUDGET_PERIODS),
  tag: (name, key) => {
    if (typeof key !== 'string' || !TAG_KEY_PATTERN.test(key))
      fail(
        name,
        'must be a tag key: a lower-case letter, then up to 31 lower-case letters, digits or _',
        key,
      );
  },
  softLimit: number({ above: 0, max: 1 }),
} as const satisfies Rules<BudgetSetting>;

const checkBudget = fields(BUDGET_RULES, 'an object { usd, per, tag?, softLimit? }');

function checkBudgets(name: string, value: unknown): void {
  if (value === false) return;
  const list: unknown[] = Array.isArray(value) ? value : [value];
  const seen = new Set<string>();
  list.forEach((b, i) => {
    const at = Array.isArray(value) ? `${name}[${i}]` : name;
    checkBudget(at, b);
    const { usd, per, tag } = b as Partial<BudgetSetting>;
    if (usd === undefined) fail(`${at}.usd`, 'is required: the limit in US dollars per period');
    if (per === undefined) fail(`${at}.per`, `is required: one of ${BUDGET_PERIODS.join(', ')}`);
    // Two limits on one spend would fight over its gauges: one budget per period and tag.
    const scope = `${per}\u0000${tag ?? ''}`;
    if (seen.has(scope)) fail(at, `repeats another budget's per and tag (${per}${tag ? `, ${tag}` : ''})`);
    seen.add(scope);
  });
}

const HOOK_RULES = {
  onAttempt: fn,
  onRetry: fn,
  onFallback: fn,
  onGiveUp: fn,
} as const satisfies Rules<RetryscopeHooks>;

// The top level: every key of RetryscopeOptions has its check here, and no other key does.
const OPTION_RULES = {
  maxAttempts: number({ min: 1, integer: true }),
  backoff: fields(BACKOFF_RULES),
  maxRetryAfterMs: number({ min: 0 }),
  deadlineMs: (name, ms) => {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || !(ms > 0))
      fail(name, 'must be a positive number of milliseconds', ms);
  },
  tracerProvider: provider('getTracer'),
  meterProvider: provider('getMeter'),
  captureContent: boolean,
  prices: checkPrices,
  validate: mechanism(VALIDATE_RULES),
  limiter: mechanism(LIMITER_RULES),
  retryBudget: mechanism(RETRY_BUDGET_RULES),
  circuitBreaker: mechanism(CIRCUIT_BREAKER_RULES),
  fallbacks: (name, list) => {
    if (!Array.isArray(list)) fail(name, 'must be an array of { model?, client? }', list);
    list.forEach((f: unknown, i) => {
      const at = `${name}[${i}]`;
      checkFallback(at, f);
      const { model, client } = f as FallbackTarget;
      if (model === undefined && client === undefined) fail(at, 'needs a model, a client, or both');
    });
  },
  fallbackOn: (name, list) => {
    const known: readonly string[] = FAILURE_OUTCOMES;
    if (!Array.isArray(list)) fail(name, `must be an array of outcomes (${known.join(', ')})`, list);
    list.forEach((outcome, i) => {
      if (!known.includes(outcome))
        fail(`${name}[${i}]`, `is not an outcome; known: ${known.join(', ')}`, outcome);
    });
  },
  degrade: fn,
  budget: checkBudgets,
  hooks: fields(HOOK_RULES, `an object { ${Object.keys(HOOK_RULES).join('?, ')}? }`),
  tags: (name, tags) => {
    if (tags === null || typeof tags !== 'object' || Array.isArray(tags))
      fail(name, 'must map tag keys to string values, such as { feature: "search" }', tags);
    for (const [key, value] of Object.entries(tags)) {
      if (value !== undefined && typeof value !== 'string')
        fail(`${name}.${key}`, 'must be a string (or undefined to remove it)', kindOf(value));
    }
  },
  tagKeys: (name, keys) => {
    if (!Array.isArray(keys)) fail(name, 'must be an array of tag keys, such as ["feature", "tenant"]', keys);
    keys.forEach((key: unknown, i) => {
      if (typeof key !== 'string' || !TAG_KEY_PATTERN.test(key))
        fail(`${name}[${i}]`, `must match ${TAG_KEY_PATTERN} (a valid Prometheus label suffix)`, key);
    });
  },
  maxTagValues: number({ min: 1, integer: true }),
  clock: (name, clock) => {
    const c = clock as { now?: unknown; sleep?: unknown } | null;
    if (typeof c?.now !== 'function' || typeof c.sleep !== 'function')
      fail(name, 'must have now() and sleep(ms, signal)');
  },
  random: fn,
} as const satisfies Rules<RetryscopeOptions>;

/**
 * The OpenTelemetry GenAI instrumentations' switch for content capture: `true`, or the values
 * the latest-experimental instrumentations read (`SPAN_ONLY`, `SPAN_AND_EVENT`), any case, turn
 * it on; retryscope records content on spans only, so `EVENT_ONLY` and `NO_CONTENT` leave it off.
 */
function captureContentFromEnv(): boolean {
  const value = globalThis.process?.env?.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT;
  return CAPTURE_ON.has(value?.trim().toLowerCase() ?? '');
}
const CAPTURE_ON: ReadonlySet<string> = new Set(['true', 'span_only', 'span_and_event']);

/** Validates and fills in defaults; throws `RetryscopeConfigError` naming the bad option. */
export function resolveOptions(input: RetryscopeOptions = {}, base?: ResolvedOptions): ResolvedOptions {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    fail('options', 'must be an object', input);
  checkFields('', input, OPTION_RULES);
  const prev: ResolvedOptions = base ?? {
    ...DEFAULTS,
    backoff: { ...DEFAULTS.backoff },
    fallbackOn: [...DEFAULTS.fallbackOn],
    fallbacks: [],
    captureContent: captureContentFromEnv(),
    prices: {},
    validate: {},
    limiter: {},
    retryBudget: {},
    circuitBreaker: {},
  };
  const backoff = {
    initialMs: input.backoff?.initialMs ?? prev.backoff.initialMs,
    maxMs: input.backoff?.maxMs ?? prev.backoff.maxMs,
    jitter: input.backoff?.jitter ?? prev.backoff.jitter,
  };
  if (backoff.maxMs < backoff.initialMs)
    fail('backoff.maxMs', `must be >= backoff.initialMs (${backoff.initialMs})`, backoff.maxMs);
  const circuitBreaker = setting(input.circuitBreaker, prev.circuitBreaker);
  if (circuitBreaker && circuitBreaker.maxOpenMs !== undefined) {
    const openMs = circuitBreaker.openMs ?? DEFAULT_OPEN_MS;
    if (circuitBreaker.maxOpenMs < openMs)
      fail(
        'circuitBreaker.maxOpenMs',
        `must be >= circuitBreaker.openMs (${openMs})`,
        circuitBreaker.maxOpenMs,
      );
  }
  const tagKeys = input.tagKeys ?? prev.tagKeys;
  const tags = mergedTags(prev.tags, input.tags, tagKeys);
  const budget = input.budget ?? prev.budget;
  checkBudgetTags(budget, tagKeys);
  // An explicit `deadlineMs: undefined` clears an inherited deadline.
  const deadlineMs = 'deadlineMs' in input ? input.deadlineMs : prev.deadlineMs;
  return {
    maxAttempts: input.maxAttempts ?? prev.maxAttempts,
    backoff,
    maxRetryAfterMs: input.maxRetryAfterMs ?? prev.maxRetryAfterMs,
    ...pick('deadlineMs', deadlineMs),
    captureContent: input.captureContent ?? prev.captureContent,
    prices: input.prices ? { ...prev.prices, ...input.prices } : prev.prices,
    validate: setting<ValidateSetting>(input.validate, prev.validate),
    limiter: setting(input.limiter, prev.limiter),
    retryBudget: setting(input.retryBudget, prev.retryBudget),
    circuitBreaker,
    fallbacks: input.fallbacks ?? prev.fallbacks,
    fallbackOn: input.fallbackOn ?? prev.fallbackOn,
    ...pick('degrade', input.degrade ?? prev.degrade),
    ...pick('budget', budget),
    ...pick('hooks', input.hooks ? { ...prev.hooks, ...input.hooks } : prev.hooks),
    ...pick('tags', tags),
    tagKeys,
    maxTagValues: input.maxTagValues ?? prev.maxTagValues,
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

/** A checked mechanism setting, resolved: unset keeps the previous one, `true` is on with defaults. */
function setting<T extends object>(value: false | T | true | undefined, previous: false | T): false | T {
  if (value === undefined) return previous;
  if (value === true) return {} as T;
  return value;
}

/** A per-tag budget whose tag is not allow-listed would never see a call: refused, not ignored. */
function checkBudgetTags(budget: RetryscopeOptions['budget'], tagKeys: readonly string[]): void {
  if (budget === undefined || budget === false) return;
  const list = Array.isArray(budget) ? budget : [budget];
  list.forEach((b: BudgetSetting, i) => {
    if (b.tag !== undefined && !tagKeys.includes(b.tag)) {
      const at = Array.isArray(budget) ? `budget[${i}].tag` : 'budget.tag';
      fail(at, `is not in tagKeys: add "${b.tag}" to tagKeys so calls carry it`);
    }
  });
}

/** `next` merged over `previous` (`undefined` removes a key); every key must be allow-listed. */
function mergedTags(
  previous: ResolvedOptions['tags'],
  next: RetryscopeOptions['tags'],
  tagKeys: readonly string[],
): Readonly<Record<string, string>> | undefined {
  const merged = Object.entries({ ...previous, ...next }).filter(([, v]) => v !== undefined);
  for (const [key] of merged) {
    if (!tagKeys.includes(key))
      fail(`tags.${key}`, `is not in tagKeys: add "${key}" to tagKeys to record it`);
  }
  return merged.length ? (Object.fromEntries(merged) as Record<string, string>) : undefined;
}

function pick<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function provider(method: string): Check {
  return (name, value) => {
    if (value === null || typeof (value as Record<string, unknown>)[method] !== 'function')
      fail(name, `must be an OpenTelemetry ${name} (with ${method}())`);
  };
}

/** A redis:// URL the built-in connection can use: it parses, with a host and a port that is a number. */
function isRedisUrl(value: string): boolean {
  if (!/^redis:\/\/[^/]/.test(value)) return false;
  try {
    const u = new URL(value);
    return u.protocol === 'redis:' && u.hostname !== '' && (u.port === '' || /^\d+$/.test(u.port));
  } catch {
    return false;
  }
}
