import type { ErrorCategory } from './types.ts';

export type CircuitState = 'closed' | 'open' | 'half_open';

/**
 * Stops sending to an upstream that is down, and lets a few probes find out
 * when it is back. Pure: time comes in as `now` (ms).
 *
 * It trips on the share of failures over a sliding time window, not on a run
 * of consecutive ones: with 50 callers in flight, successes and failures
 * interleave, so a run measures luck more than health, and a ratio with a
 * minimum of calls does not flap on a few unlucky attempts.
 *
 * Only the server's failures count: 5xx, timeouts, connection errors and
 * malformed answers. A 429 says the server is alive and busy (the limiter's
 * business), a 4xx is the request's fault, an abort the caller's: all are
 * neutral, neither success nor failure.
 *
 * Partial outages are the retry policy's and the retry budget's job; the
 * breaker is for an upstream (a model, an endpoint) that is down, so that
 * calls fail fast (or fall back) instead of queueing behind timeouts. Hence a
 * high default threshold.
 *
 * How the adapter drives it, per attempt (one instance per upstream):
 *
 *     if (!breaker.allow(now)) → fail fast, outcome 'circuit_open' (or fall back)
 *     // after the attempt, always exactly one of:
 *     breaker.onSuccess(now);
 *     breaker.onFailure(now, category);  // any category: the neutral ones free a probe slot
 */
export interface CircuitBreakerOptions {
  /**
   * Share of failures, in (0, 1], over the window that opens the circuit.
   * @default 0.8
   */
  failureThreshold?: number;
  /**
   * The sliding window the share is measured over.
   * @default 10_000
   */
  windowMs?: number;
  /**
   * Fewer calls than this in the window never open the circuit.
   * @default 20
   */
  minimumCalls?: number;
  /**
   * How long the circuit stays open before probing; doubles after each failed probe.
   * @default 5_000
   */
  openMs?: number;
  /**
   * Upper bound for the doubling open time; at least `openMs`.
   * @default 60_000, or `openMs` if that is longer
   */
  maxOpenMs?: number;
  /**
   * Concurrent probes allowed while half open.
   * @default 1
   */
  halfOpenProbes?: number;
  /**
   * A probe that has not reported after this long is presumed lost, and frees its slot.
   * @default 60_000
   */
  probeLeaseMs?: number;
}

// A mostly-failing upstream, not a degraded one: in the simulator's outage
// phases a half to two thirds of attempts fail, and retries still get most
// calls through; opening there would turn a partial outage into a total one.
const DEFAULT_FAILURE_THRESHOLD = 0.8;
// Long enough to hold 20 calls at a couple of requests a second, short enough
// that an outage is noticed within seconds.
const DEFAULT_WINDOW_MS = 10_000;
const DEFAULT_MINIMUM_CALLS = 20;
// Probe after 5 s, then 10, 20, 40, 60: a dead upstream costs a probe a minute.
export const DEFAULT_OPEN_MS = 5_000;
const DEFAULT_MAX_OPEN_MS = 60_000;
const DEFAULT_HALF_OPEN_PROBES = 1;
// Far beyond a healthy answer's time; a probe gone this long is not coming back.
const DEFAULT_PROBE_LEASE_MS = 60_000;
// The window is kept as this many buckets, so memory and work stay constant.
const BUCKETS = 10;

const FAILURES: ReadonlySet<ErrorCategory> = new Set([
  'server_error',
  'timeout',
  'connection_error',
  'malformed_response',
]);

/** Whether a failure of this category counts against the upstream's health. */
export function isBreakerFailure(category: ErrorCategory): boolean {
  return FAILURES.has(category);
}

interface Bucket {
  index: number;
  successes: number;
  failures: number;
}

export class CircuitBreaker {
  private readonly threshold: number;
  private readonly bucketMs: number;
  private readonly minimumCalls: number;
  private readonly baseOpenMs: number;
  private readonly maxOpenMs: number;
  private readonly probes: number;
  private readonly leaseMs: number;

  private buckets: Bucket[] = [];
  private opened = false;
  private openUntil = 0;
  private openMs: number;
  /** Start times of the probes in flight while half open. */
  private probesInFlight: number[] = [];

  /** Trusts its options: resolveOptions (src/options.ts) has checked each against its range. */
  constructor(options: CircuitBreakerOptions = {}) {
    this.threshold = options.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
    this.bucketMs = (options.windowMs ?? DEFAULT_WINDOW_MS) / BUCKETS;
    this.minimumCalls = options.minimumCalls ?? DEFAULT_MINIMUM_CALLS;
    this.baseOpenMs = options.openMs ?? DEFAULT_OPEN_MS;
    // Unset, the cap is the default or the base, whichever is longer (a set cap is checked >= the base).
    this.maxOpenMs = options.maxOpenMs ?? Math.max(this.baseOpenMs, DEFAULT_MAX_OPEN_MS);
    this.probes = options.halfOpenProbes ?? DEFAULT_HALF_OPEN_PROBES;
    this.leaseMs = options.probeLeaseMs ?? DEFAULT_PROBE_LEASE_MS;
    this.openMs = this.baseOpenMs;
  }

  state(now: number): CircuitState {
    if (!this.opened) return 'closed';
    return now < this.openUntil ? 'open' : 'half_open';
  }

  /** May a call start now? Closed: yes. Open: no. Half open: while fewer than `halfOpenProbes` probes are out. */
  allow(now: number): boolean {
    const state = this.state(now);
    if (state === 'closed') return true;
    if (state === 'open') return false;
    this.probesInFlight = this.probesInFlight.filter((at) => now - at < this.leaseMs);
    if (this.probesInFlight.length >= this.probes) return false;
    this.probesInFlight.push(now);
    return true;
  }

  onSuccess(now: number): void {
    const state = this.state(now);
    // While open, results come from attempts that started before it opened.
    if (state === 'open') return;
    if (state === 'half_open') this.close();
    else this.record(now, 'successes');
  }

  /** Counts only server-side failures; any other category is neutral (and frees a probe slot when half open). */
  onFailure(now: number, category: ErrorCategory): void {
    const state = this.state(now);
    if (state === 'open') return;
    if (!isBreakerFailure(category)) {
      if (state === 'half_open') this.probesInFlight.shift();
      return;
    }
    if (state === 'half_open') {
      // The upstream is still down: wait longer before the next probe.
      this.open(now, Math.min(this.maxOpenMs, this.openMs * 2));
      return;
    }
    const totals = this.record(now, 'failures');
    const calls = totals.successes + totals.failures;
    if (calls >= this.minimumCalls && totals.failures >= this.threshold * calls)
      this.open(now, this.baseOpenMs);
  }

  /** Counts a result into the window and returns the window's totals. */
  private record(now: number, kind: 'successes' | 'failures'): { successes: number; failures: number } {
    const index = Math.floor(now / this.bucketMs);
    this.buckets = this.buckets.filter((b) => b.index > index - BUCKETS);
    let bucket = this.buckets.find((b) => b.index === index);
    if (!bucket) {
      bucket = { index, successes: 0, failures: 0 };
      this.buckets.push(bucket);
    }
    bucket[kind]++;
    let successes = 0;
    let failures = 0;
    for (const b of this.buckets) {
      successes += b.successes;
      failures += b.failures;
    }
    return { successes, failures };
  }

  private open(now: number, forMs: number): void {
    this.opened = true;
    this.openMs = forMs;
    this.openUntil = now + forMs;
    this.probesInFlight = [];
    this.buckets = [];
  }

  private close(): void {
    this.opened = false;
    this.openMs = this.baseOpenMs;
    this.probesInFlight = [];
    this.buckets = [];
  }
}
