import type { ErrorCategory } from './types.ts';

/**
 * A client-wide allowance for retries, so that an outage (5xx, timeouts)
 * cannot multiply the load on a server that is already failing.
 *
 * This is the AWS SDKs' "standard" retry quota: a bucket that every retry
 * pays into and successes refill. It is chosen over gRPC's retry throttling
 * because it prices retries rather than counting failures: a timeout (which
 * held a connection for the whole timeout) costs twice a 5xx, and a failure
 * that is not retried costs nothing. gRPC's scheme stops all retries once
 * failures pass half its token count, a cliff; this one degrades smoothly:
 * once the initial allowance (capacity / retryCost = 100 retries) is spent, a
 * retry needs retryCost / successRefund = 5 first-try successes, so sustained
 * retries stay under one per five successes, however bad the outage.
 *
 * 429 rate_limited retries cost nothing by default: the RateLimiter paces
 * them (and pauses everyone on retry-after), so they add no load the server
 * has not asked for, and a rate-limit storm must not use up the allowance an
 * outage will need. Without a limiter in front, set `rateLimitedRetryCost`
 * to `retryCost`.
 *
 * How the adapter drives it (one instance per client):
 *
 *     // a failed attempt the policy would retry:
 *     if (!budget.tryAcquire(category)) → stop, outcome 'retries_exhausted'
 *     // a successful attempt; `retried` is the category of the failure the
 *     // last retry was for, absent when the first attempt succeeded:
 *     budget.onSuccess(retried);
 */
export interface RetryBudgetOptions {
  /**
   * Size of the bucket, and where it starts: full.
   * @default 500
   */
  capacity?: number;
  /**
   * What a retry costs.
   * @default 5
   */
  retryCost?: number;
  /**
   * What a retry after a timeout or a connection error costs.
   * @default 10
   */
  timeoutRetryCost?: number;
  /**
   * What a first-try success puts back.
   * @default 1
   */
  successRefund?: number;
  /**
   * What a retry after a 429 rate_limited costs; 0 when a RateLimiter paces them.
   * @default 0
   */
  rateLimitedRetryCost?: number;
}

// botocore's standard mode: INITIAL_RETRY_TOKENS 500, RETRY_COST 5,
// TIMEOUT_RETRY_COST 10, NO_RETRY_INCREMENT 1.
const DEFAULT_CAPACITY = 500;
const DEFAULT_RETRY_COST = 5;
const DEFAULT_TIMEOUT_RETRY_COST = 10;
const DEFAULT_SUCCESS_REFUND = 1;
const DEFAULT_RATE_LIMITED_RETRY_COST = 0;

export class RetryBudget {
  private readonly capacity: number;
  private readonly retryCost: number;
  private readonly timeoutRetryCost: number;
  private readonly successRefund: number;
  private readonly rateLimitedRetryCost: number;
  private tokens: number;

  /** Trusts its options: resolveOptions (src/options.ts) has checked each is a finite number >= 0. */
  constructor(options: RetryBudgetOptions = {}) {
    this.capacity = options.capacity ?? DEFAULT_CAPACITY;
    this.retryCost = options.retryCost ?? DEFAULT_RETRY_COST;
    this.timeoutRetryCost = options.timeoutRetryCost ?? DEFAULT_TIMEOUT_RETRY_COST;
    this.successRefund = options.successRefund ?? DEFAULT_SUCCESS_REFUND;
    this.rateLimitedRetryCost = options.rateLimitedRetryCost ?? DEFAULT_RATE_LIMITED_RETRY_COST;
    this.tokens = this.capacity;
  }

  /** What a retry of a failure of this category costs. */
  costOf(category: ErrorCategory): number {
    switch (category) {
      case 'rate_limited':
      case 'capacity_unavailable':
        return this.rateLimitedRetryCost;
      case 'timeout':
      case 'connection_error':
        return this.timeoutRetryCost;
      default:
        return this.retryCost;
    }
  }

  /** Spends for a retry of a failure of this category; false (nothing spent) = budget exhausted: do not retry. */
  tryAcquire(category: ErrorCategory): boolean {
    const cost = this.costOf(category);
    if (cost > this.tokens) return false;
    this.tokens -= cost;
    return true;
  }

  /**
   * A successful attempt. After retries, the last retry's cost comes back
   * (the outage it paid for is over, for this call); a first-try success, or
   * one after free retries, puts back `successRefund`.
   */
  onSuccess(retried?: ErrorCategory): void {
    const cost = retried === undefined ? 0 : this.costOf(retried);
    this.tokens = Math.min(this.capacity, this.tokens + (cost > 0 ? cost : this.successRefund));
  }

  remaining(): number {
    return this.tokens;
  }
}
