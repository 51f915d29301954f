/** The limiter's options, with their defaults: what `limiter: {…}` in instrument()'s options takes. */

export interface LimiterOptions {
  /**
   * Requests per minute to assume before any header is seen.
   * @default undefined (unlimited until the first x-ratelimit header or 429)
   */
  initialRpm?: number;
  /**
   * Tokens per minute to assume before any header is seen.
   * @default undefined (not paced by tokens until a header says)
   */
  initialTpm?: number;
  /**
   * Max calls waiting (reservations in the future) before new ones are refused with 'queue_full'.
   * @default 1000
   */
  maxQueue?: number;
  /**
   * A waiting caller confirms at least this often, so news (a higher limit, a correction) reaches it.
   * @default 1000
   */
  maxSleepMs?: number;
  /**
   * How much of the send rate may leave at once, as time: the pacer's bucket holds this many ms of sends.
   * @default 1000
   */
  burstMs?: number;
  /**
   * Share of each limit the mirror keeps unused (at least one request, one token), against rounding and reordering.
   * @default 0.02 (range 0 to 0.5)
   */
  safetyMargin?: number;
  /**
   * Multiplicative decrease on a throttle.
   * @default 0.7 (range 0.05 to 1)
   */
  beta?: number;
  /**
   * CUBIC's scale constant C, in requests/s per s³: how fast the rate climbs back.
   * @default 0.4
   */
  cubicScale?: number;
  /**
   * The pacer never goes below this many requests/s.
   * @default 1/60 (one request a minute)
   */
  minRatePerSec?: number;
  /**
   * At most one decrease per this many ms: one overload's 429s land within about a round trip.
   * @default 1000
   */
  cutCooldownMs?: number;
  /**
   * Before a bucket has heard from the server (no header, no answer yet) and has no
   * `initialRpm`/`initialTpm`, this many requests go; the rest wait for the first answer.
   * @default 2
   */
  coldStartProbes?: number;
  /**
   * The longest a caller waits for that first answer (never past its own deadline); then it goes.
   * @default 10000
   */
  coldStartHoldMs?: number;
}

export interface LimiterSnapshot {
  /** The pacer's request rate; Infinity while unlimited. */
  ratePerSec: number;
  /** Reservations whose start is still in the future. */
  queueDepth: number;
  pausedUntil?: number;
  tokensPerSec?: number;
  /** The limits in force (advertised, or assumed), when known. */
  limitRpm?: number;
  limitTpm?: number;
}

// A generous queue: 1000 callers at a 60 RPM limit is a quarter of an hour of
// waiting, which deadlines cut short long before; beyond that, something is wrong.
const DEFAULT_MAX_QUEUE = 1000;
// Once a second, a waiting caller asks again: a queue laid out at a storm's
// pace picks up a recovered limit within a second, for one cheap call each.
const DEFAULT_MAX_SLEEP_MS = 1000;
// AWS adaptive retry's token bucket holds one second of its fill rate, and
// OpenAI warns its per-minute limits may be enforced over shorter periods.
const DEFAULT_BURST_MS = 1000;
// 2% of a 500 RPM limit is 10 requests of slack in the bucket. Slack costs
// nothing at steady state (throughput is the drain rate), only initial burst.
const DEFAULT_SAFETY_MARGIN = 0.02;
// AWS adaptive retry (botocore ClientRateLimiter): β 0.7, C 0.4.
const DEFAULT_BETA = 0.7;
const DEFAULT_CUBIC_SCALE = 0.4;
// Not AWS's 0.5 req/s floor: that is 30 RPM, above OpenAI's lowest tiers (3 RPM),
// where it would forbid any decrease. One request a minute.
const DEFAULT_MIN_RATE_PER_SEC = 1 / 60;
// 429s are answered at the front door, so one overload's rejections all land
// within about a round trip; a second of hold-off keeps them to one decrease.
const DEFAULT_CUT_COOLDOWN_MS = 1000;
// Two, not one: a first probe that hangs or is lost does not hold every caller to the hold's end
// (whichever answers first releases them), and two never exceed OpenAI's smallest published
// limit (3 RPM), so the probes alone cannot draw a 429 on a fresh key. More would be a burst.
const DEFAULT_COLD_START_PROBES = 2;
// A non-streamed completion's headers come when it is done: most answer within seconds. The hold
// is paid once per bucket per process; past it, guessing beats waiting (a caller's deadline ends it sooner).
const DEFAULT_COLD_START_HOLD_MS = 10_000;

/** The options with every default filled in; the initial limits stay unknown until set or advertised. */
export type LimiterSettings = Required<Omit<LimiterOptions, 'initialRpm' | 'initialTpm'>> &
  Pick<LimiterOptions, 'initialRpm' | 'initialTpm'>;

export function withDefaults(options: LimiterOptions): LimiterSettings {
  return {
    initialRpm: options.initialRpm,
    initialTpm: options.initialTpm,
    maxQueue: options.maxQueue ?? DEFAULT_MAX_QUEUE,
    maxSleepMs: options.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS,
    burstMs: options.burstMs ?? DEFAULT_BURST_MS,
    safetyMargin: options.safetyMargin ?? DEFAULT_SAFETY_MARGIN,
    beta: options.beta ?? DEFAULT_BETA,
    cubicScale: options.cubicScale ?? DEFAULT_CUBIC_SCALE,
    minRatePerSec: options.minRatePerSec ?? DEFAULT_MIN_RATE_PER_SEC,
    cutCooldownMs: options.cutCooldownMs ?? DEFAULT_CUT_COOLDOWN_MS,
    coldStartProbes: options.coldStartProbes ?? DEFAULT_COLD_START_PROBES,
    coldStartHoldMs: options.coldStartHoldMs ?? DEFAULT_COLD_START_HOLD_MS,
  };
}
