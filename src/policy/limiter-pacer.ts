import { type BucketMirror, rescale } from './limiter-mirror.ts';

/**
 * The limiter's pacer: it spreads bursts, at most `burstMs` worth of the send
 * rate at once, then one request per interval. Its rate is the advertised
 * limit, or less after a throttle: AWS adaptive retry's CUBIC (multiplicative
 * decrease on a 429, cubic recovery on successes). With exact headers the
 * mirror alone avoids 429s; the CUBIC is what still converges when they lie:
 * another client on the same key, a token estimate that is too low, no
 * headers at all.
 */

// Below this send rate (requests/s) a 429 pauses the caller but does not cut its rate.
const MIN_RATE_TO_CUT = 3;
// After a cut, the rate takes at least this many of its own intervals to climb back.
const RECOVERY_INTERVALS = 8;
// ... and at most this long at any rate that allows it: AWS's K grows with the rate (9 s at
// 1000/s), and a storm that is over should cost seconds, not tens of them. The mirror of the
// headers, not the cubic, is what keeps a quick climb from overshooting.
const MAX_RECOVERY_MS = 3000;
// OpenAI's slow_down asks for the original rate, held steady, then a gradual increase:
// cut to half, and a climb back over a minute instead of seconds.
const SLOW_DOWN_BETA = 0.5;
const SLOW_DOWN_RECOVERY_MS = 60_000;

export interface PacerOptions {
  burstMs: number;
  beta: number;
  /** CUBIC's C, requests/s per s³. */
  scale: number;
  minRate: number;
  cooldownMs: number;
}

interface Cubic {
  /** The rate when throttled, requests/s. */
  wMax: number;
  cutAt: number;
  /** Seconds to climb back to wMax. */
  k: number;
  /** The cubic's scale, requests/s per s³. */
  c: number;
  /** The pacer's current request rate, requests/s. */
  rate: number;
  /** A slow_down's cut: no shortcut back. */
  slowDown: boolean;
  /** Re-aimed at the advertised limit once headers showed the bucket refilled. */
  rebased: boolean;
}

export class CubicPacer {
  private readonly options: PacerOptions;
  /** Its ceiling is the mirror's advertised request limit; its interval counts the mirror's token cost. */
  private readonly mirror: BucketMirror;
  private readonly changed: () => void;
  private cubic: Cubic | undefined;
  private lastCutAt = Number.NEGATIVE_INFINITY;
  /** From when the pacer has no burst credit (the end of a throttle's pause). */
  private noBurstFrom = Number.NEGATIVE_INFINITY;
  /** The pacer's bucket (GCRA) after every sent request, and after every queued one too. */
  private committed = Number.NEGATIVE_INFINITY;
  private tail = Number.NEGATIVE_INFINITY;

  constructor(options: PacerOptions, mirror: BucketMirror, changed: () => void) {
    this.options = options;
    this.mirror = mirror;
    this.changed = changed;
  }

  /** The request rate; Infinity while unlimited. */
  ratePerSec(): number {
    const rpm = this.mirror.limitRpm;
    const ceiling = rpm !== undefined ? rpm / 60 : Number.POSITIVE_INFINITY;
    return Math.min(ceiling, this.cubic?.rate ?? Number.POSITIVE_INFINITY);
  }

  /**
   * The earliest start at or after `start` the pacer allows, one interval behind `previous`
   * (the slot before it) when its caller has to wait anyway: past `now`, when it is ready to send.
   */
  earliest(tokens: number, start: number, now: number, previous: number): number {
    const pace = this.interval(tokens);
    if (pace <= 0) return start;
    let slot = Math.max(
      start,
      this.withoutCredit(this.tail, pace) - Math.max(0, this.options.burstMs - pace),
    );
    // Burst credit is for sending now. A caller who waits anyway waits its
    // turn, one interval behind the one before: credit that built up while
    // something else held the queue back must not release it all at once.
    if (slot > now) slot = Math.max(slot, previous + pace);
    return slot;
  }

  book(tokens: number, start: number): void {
    this.tail = this.after(this.tail, tokens, start);
  }

  commit(tokens: number, start: number): void {
    this.committed = this.after(this.committed, tokens, start);
  }

  restart(): void {
    this.tail = this.committed;
  }

  /**
   * A storm's 429: cut to β of what was being sent, once per overload. A 429 for a request sent
   * before the last cut is its echo, and so is any 429 within the cooldown. Without the cooldown,
   * a closed loop of callers meets a long storm with a cut per round trip, down to the floor, and
   * takes tens of seconds to climb back. A caller sending a request or two a second is not what
   * overloads the key (others on it are): cutting its rate would only stretch its own retries far
   * past the server's retry-after. A slow_down is OpenAI asking this very traffic to slow, whatever its share.
   */
  onStorm(at: number, measured: number, slowDown: boolean, sentAt: number | undefined): void {
    const echo =
      (sentAt !== undefined && sentAt <= this.lastCutAt) || at - this.lastCutAt < this.options.cooldownMs;
    const light = !slowDown && measured < MIN_RATE_TO_CUT;
    if (echo || light) return;
    const pace = this.ratePerSec();
    this.cut(at, measured, slowDown);
    this.repace(at, pace);
  }

  /**
   * The server's bucket is full until `from`: from then, one request at a time, no burst. Kept
   * apart from the pacer's bucket: rescaled by a later cut, that lead would become a long stall.
   */
  noBurstUntil(from: number): void {
    this.noBurstFrom = Math.max(this.noBurstFrom, from);
  }

  private cut(at: number, measured: number, slowDown: boolean): void {
    const { beta: baseBeta, minRate, scale } = this.options;
    const pace = this.ratePerSec();
    const from = Math.max(minRate, Math.min(pace, measured > 0 ? measured : pace));
    const base = Number.isFinite(from) ? from : minRate;
    const beta = slowDown ? Math.min(baseBeta, SLOW_DOWN_BETA) : baseBeta;
    // AWS's K, capped to a few seconds, but never fewer than RECOVERY_INTERVALS sends: at a few
    // requests a minute its K is shorter than one interval and the cut would do nothing.
    const aws = Math.min(Math.cbrt((base * (1 - beta)) / scale), MAX_RECOVERY_MS / 1000);
    const k = Math.max(aws, RECOVERY_INTERVALS / base, slowDown ? SLOW_DOWN_RECOVERY_MS / 1000 : 0);
    this.cubic = {
      wMax: base,
      cutAt: at,
      k,
      c: (base * (1 - beta)) / k ** 3,
      rate: Math.max(minRate, base * beta),
      slowDown,
      rebased: false,
    };
    this.lastCutAt = at;
  }

  /**
   * The headers say the bucket refilled after a storm (and its pause, until `pausedUntil`, is
   * over): climb to the advertised limit within MAX_RECOVERY_MS, not back to the rate the storm
   * left (the measured rate during a storm is its pauses', and a cubic aimed there takes tens of
   * seconds to reach the limit).
   */
  rebase(at: number, pausedUntil: number): void {
    const cubic = this.cubic;
    const rpm = this.mirror.limitRpm;
    if (!cubic || cubic.slowDown || cubic.rebased || rpm === undefined) return;
    if (at < pausedUntil) return;
    const target = rpm / 60;
    if (target <= cubic.rate) return;
    const k = Math.max(
      MAX_RECOVERY_MS / 1000,
      RECOVERY_INTERVALS / Math.max(cubic.rate, this.options.minRate) / 4,
    );
    this.cubic = { ...cubic, wMax: target, cutAt: at, k, c: (target - cubic.rate) / k ** 3, rebased: true };
  }

  /** A success: the rate climbs back along the cubic, and is released once it reaches the advertised limit. */
  recover(at: number, measured: number): void {
    const cubic = this.cubic;
    if (!cubic) return;
    const t = (at - cubic.cutAt) / 1000;
    const target = cubic.c * (t - cubic.k) ** 3 + cubic.wMax;
    // As AWS does, never more than twice what is actually being sent: without
    // a ceiling, a cubic left alone grows without bound and releases the whole
    // queue at once. The cap never lowers the rate, so a quiet spell costs nothing.
    const rate = Math.max(cubic.rate, Math.min(target, 2 * measured));
    const pace = this.ratePerSec();
    const rpm = this.mirror.limitRpm;
    if (rpm !== undefined && rate >= rpm / 60) this.cubic = undefined;
    else cubic.rate = rate;
    this.repace(at, pace);
    this.changed();
  }

  /** The rate changed from `before`: what the pacer has let out counts at the new rate. */
  repace(at: number, before: number): void {
    const after = this.ratePerSec();
    if (after === before || !Number.isFinite(before) || !Number.isFinite(after)) return;
    // Never more than a full bucket of debt (no burst credit, one interval to wait): beyond that
    // the lead is not requests sent but a pause's no-burst mark, and a deep cut would stretch it
    // into a stall of many seconds.
    const full = at + Math.max(this.options.burstMs, 1000 / after);
    this.committed = Math.min(rescale(this.committed, at, before, after), Math.max(full, this.committed));
    this.changed();
  }

  /** The interval for one request: the slower of its request and token rates. */
  private interval(tokens: number): number {
    const rate = this.ratePerSec();
    const byRequests = Number.isFinite(rate) ? 1000 / rate : 0;
    return Math.max(byRequests, this.mirror.tokenMs(tokens));
  }

  private after(tat: number, tokens: number, start: number): number {
    const pace = this.interval(tokens);
    return pace > 0 ? Math.max(this.withoutCredit(tat, pace), start) + pace : tat;
  }

  /** The pacer's bucket, with no burst credit before `noBurstFrom`. */
  private withoutCredit(tat: number, pace: number): number {
    return Math.max(tat, this.noBurstFrom + Math.max(0, this.options.burstMs - pace));
  }
}
