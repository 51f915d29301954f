import { createHash } from 'node:crypto';
import type OpenAI from 'openai';
import type { ResolvedOptions } from '../options.ts';
import { type BucketScope, bucketKey, bucketLabel } from '../policy/buckets.ts';
import { CircuitBreaker } from '../policy/circuit-breaker.ts';
import { RateLimiter } from '../policy/limiter.ts';
import { RetryBudget } from '../policy/retry-budget.ts';
import { SpendLedger } from '../policy/spend-budget.ts';
import type { StoreBucket } from '../policy/store.ts';
import { Fleet } from './fleet.ts';
import { type RedisClientLike, RedisStore } from './redis-store.ts';

/** The limiter a request is paced by, and the label its bucket's telemetry carries (never the key). */
export interface BucketLimiter {
  limiter: RateLimiter;
  bucket: string;
  /** The fleet's store and this bucket's name in it, when `limiter.redis` is set. */
  fleet?: { fleet: Fleet; key: StoreBucket; quotaCooldownMs: number };
}

/**
 * The pacing state one instrumented client and its siblings share: a limiter
 * per bucket (upstream, API key, organization/project, model pool), a retry
 * budget, and a circuit breaker per upstream (endpoint and model). Holds the
 * pure mechanisms; the Call drives them.
 */
export class Pacing {
  readonly budget: RetryBudget | undefined;
  private readonly options: ResolvedOptions;
  private readonly limiters = new WeakMap<object, Map<string, RateLimiter>>();
  private readonly breakers = new Map<string, CircuitBreaker>();
  private fleet: { fleet: Fleet; store: RedisStore } | undefined;
  /** Spend per budget period, shared with sibling clients (spend is spend, whatever the limit). */
  readonly spend = new SpendLedger();

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.budget = options.retryBudget === false ? undefined : new RetryBudget(options.retryBudget);
  }

  /** The limiter for `model`'s requests sent through `client`, or undefined when pacing is off. */
  limiter(client: OpenAI, model: string | undefined): BucketLimiter | undefined {
    const config = this.options.limiter;
    if (config === false) return undefined;
    const { shareAcrossClients, modelGroups, redis, redisTimeoutMs, quotaCooldownMs, ...options } = config;
    const scope = scopeOf(client, model);
    const key = bucketKey(scope, modelGroups);
    let own = shareAcrossClients ? shared : this.limiters.get(client);
    if (!own) {
      own = new Map();
      this.limiters.set(client, own);
    }
    let limiter = own.get(key);
    if (!limiter) {
      limiter = new RateLimiter(options);
      own.set(key, limiter);
    }
    const bucket = bucketLabel(model, modelGroups);
    if (redis === undefined) return { limiter, bucket };
    // A credential not yet known as a string (an `apiKey` function before its first call, workload
    // identity) has no name to share under: sharing it as '' would let one client's quota error
    // stop every other such client in the fleet. Those calls pace by this client's own limiter.
    if (typeof client.apiKey !== 'string' || client.apiKey === '') return { limiter, bucket };
    return {
      limiter,
      bucket,
      fleet: {
        fleet: this.fleetOf(redis, redisTimeoutMs).fleet,
        // The full scope, hashed: an upstream URL could carry a secret in its userinfo or query.
        key: {
          credential: scope.credential,
          scope: cachedFingerprint(key),
          // Quota is the account's: the same key on another upstream, organization or project is another bill.
          account: cachedFingerprint(
            `${scope.upstream}\u0000${scope.organization ?? ''}\u0000${scope.project ?? ''}`,
          ),
        },
        quotaCooldownMs: quotaCooldownMs ?? DEFAULT_QUOTA_COOLDOWN_MS,
      },
    };
  }

  /**
   * The fleet's store for the spend budgets of calls through `client`, and the credential's
   * fingerprint they are kept under; undefined without `limiter.redis` or a string API key.
   */
  sharedSpend(client: OpenAI): { fleet: Fleet; store: RedisStore; credential: string } | undefined {
    const config = this.options.limiter;
    if (config === false || config.redis === undefined) return undefined;
    if (typeof client.apiKey !== 'string' || client.apiKey === '') return undefined;
    return {
      ...this.fleetOf(config.redis, config.redisTimeoutMs),
      credential: credentialFingerprint(client.apiKey),
    };
  }

  /** One store and one outage state for the limiter and the budgets: the same Redis. */
  private fleetOf(
    redis: string | object,
    redisTimeoutMs: number | undefined,
  ): { fleet: Fleet; store: RedisStore } {
    if (!this.fleet) {
      const store = new RedisStore(redis as string | RedisClientLike);
      this.fleet = {
        store,
        fleet: new Fleet(store, {
          timeoutMs: redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS,
          retryMs: DEFAULT_REDIS_RETRY_MS,
          warn: (message) => process.emitWarning(message, 'RetryscopeWarning'),
        }),
      };
    }
    return this.fleet;
  }

  /** The breaker for one upstream, or undefined when breaking is off. */
  breaker(client: OpenAI, model: string | undefined): CircuitBreaker | undefined {
    const config = this.options.circuitBreaker;
    if (config === false) return undefined;
    const key = `${client.baseURL}\u0000${model ?? ''}`;
    let breaker = this.breakers.get(key);
    if (!breaker) {
      breaker = new CircuitBreaker(config);
      this.breakers.set(key, breaker);
    }
    return breaker;
  }
}

// Buckets shared across clients, when asked for: the key holds a fingerprint, never the API key.
const shared = new Map<string, RateLimiter>();

/** What OpenAI scopes a limit by, for a request through `client` asking for `model`. */
export function scopeOf(client: OpenAI, model: string | undefined): BucketScope {
  return {
    upstream: client.baseURL,
    credential: credentialFingerprint(typeof client.apiKey === 'string' ? client.apiKey : ''),
    organization: client.organization,
    project: client.project,
    model,
  };
}

/**
 * 16 hex digits of SHA-256: tells credentials apart (collisions need ~2³² keys) and
 * cannot be turned back into a key, so it may appear in a Redis key or a log.
 */
export function credentialFingerprint(apiKey: string): string {
  return cachedFingerprint(`retryscope\u0000${apiKey}`);
}

/** Hashed once per text, not once per call: SHA-256 was the adapter's largest per-call cost. */
export function cachedFingerprint(text: string): string {
  let known = fingerprints.get(text);
  if (known === undefined) {
    known = fingerprint(text);
    // Bounded: an `apiKey` function that rotates keys must not grow this forever.
    if (fingerprints.size >= MAX_FINGERPRINTS) fingerprints.clear();
    fingerprints.set(text, known);
  }
  return known;
}

const MAX_FINGERPRINTS = 256;
const fingerprints = new Map<string, string>();

function fingerprint(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

// A loopback Redis answers in well under a millisecond; 50 ms is a stall, not a slow network.
const DEFAULT_REDIS_TIMEOUT_MS = 50;
// Once down, Redis is asked again each second: an outage costs one failed round trip a second.
const DEFAULT_REDIS_RETRY_MS = 1000;
// OpenAI's quota does not come back by itself within seconds: a minute of fail-fast saves a fleet's worth of 429s.
const DEFAULT_QUOTA_COOLDOWN_MS = 60_000;

/**
 * Tokens a request will count against a TPM limit, as OpenAI's limiter
 * estimates them: prompt characters / 4 plus the completion budget.
 */
export function estimateRequestTokens(body: unknown): number {
  if (body === null || typeof body !== 'object') return 1;
  const b = body as Record<string, unknown>;
  const prompt = b.messages ?? b.input ?? b.prompt;
  let chars = 0;
  try {
    chars = prompt === undefined ? 0 : JSON.stringify(prompt).length;
  } catch {}
  const completion = [b.max_completion_tokens, b.max_tokens, b.max_output_tokens].find(
    (v) => typeof v === 'number',
  );
  // Without a stated budget OpenAI's own estimate is small; 16 keeps the client from over-reserving.
  return Math.ceil(chars / 4) + ((completion as number | undefined) ?? 16);
}
