import { createHash } from 'node:crypto';
import type OpenAI from 'openai';
import type { ResolvedOptions } from '../options.ts';
import { CircuitBreaker, type CircuitState } from '../policy/circuit-breaker.ts';
import { RateLimiter } from '../policy/limiter.ts';
import { RetryBudget } from '../policy/retry-budget.ts';

/**
 * The pacing state one instrumented client and its siblings share: a limiter
 * per API key, a retry budget, and a circuit breaker per upstream (endpoint
 * and model). Holds the pure mechanisms; the Call drives them.
 */
export class Pacing {
  readonly budget: RetryBudget | undefined;
  private readonly options: ResolvedOptions;
  private readonly limiters = new WeakMap<object, RateLimiter>();
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.budget = options.retryBudget === false ? undefined : new RetryBudget(options.retryBudget);
  }

  /** The limiter for requests sent through `client`, or undefined when pacing is off. */
  limiter(client: OpenAI): RateLimiter | undefined {
    const config = this.options.limiter;
    if (config === false) return undefined;
    let limiter = this.limiters.get(client);
    if (!limiter) {
      const { shareAcrossClients, ...options } = config;
      limiter = shareAcrossClients ? sharedLimiter(client, options) : new RateLimiter(options);
      this.limiters.set(client, limiter);
    }
    return limiter;
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

/** 0 closed, 1 half-open, 2 open: the gauge's encoding. */
export function circuitStateValue(state: CircuitState): number {
  return state === 'closed' ? 0 : state === 'half_open' ? 1 : 2;
}

// One limiter per API key across clients, when asked for. Keyed by a hash so the key itself is not held twice.
const byKey = new Map<string, RateLimiter>();

function sharedLimiter(client: OpenAI, options: ConstructorParameters<typeof RateLimiter>[0]): RateLimiter {
  const apiKey = typeof client.apiKey === 'string' ? client.apiKey : '';
  const id = createHash('sha256').update(`${client.baseURL}\u0000${apiKey}`).digest('hex');
  let limiter = byKey.get(id);
  if (!limiter) {
    limiter = new RateLimiter(options);
    byKey.set(id, limiter);
  }
  return limiter;
}

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
