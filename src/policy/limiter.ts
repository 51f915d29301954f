import { BucketMirror } from './limiter-mirror.ts';
import { type LimiterOptions, type LimiterSnapshot, withDefaults } from './limiter-options.ts';
import { CubicPacer } from './limiter-pacer.ts';
import { type Planner, SlotQueue } from './limiter-queue.ts';
import type { Reservation, Slot } from './limiter-slot.ts';
import type { RateLimitHeadroom } from './ratelimit-headers.ts';
import { judgeThrottle, roomOf, STORM_WINDOW_MS, type ThrottleKind } from './throttle.ts';

export type { LimiterOptions, LimiterSnapshot } from './limiter-options.ts';
export { type Reservation, Slot } from './limiter-slot.ts';

/**
 * Client-side pacing for one API key: a pure scheduler that hands out send
 * slots, so that a crowd of callers reaches the server no faster than its
 * limit lets them through. No timers: time comes in as `now` (ms).
 *
 * Three constraints decide a slot, and the latest wins:
 *
 * - a mirror of the server's buckets (limiter-mirror.ts), seeded and
 *   corrected from the `x-ratelimit-*` headers of each response;
 * - a pacer that spreads bursts, CUBIC after a throttle (limiter-pacer.ts);
 * - a pause for everyone until a 429's `retry-after` has passed (here).
 *
 * Slots are first come, first served (limiter-queue.ts): when news arrives
 * while callers wait the queue is re-laid at once; waiting callers sleep at
 * most `maxSleepMs` and then `confirm`, which tells them their current start.
 * A slot never moves before its caller's next wake-up.
 *
 * How the adapter drives it, per attempt (one instance per API key):
 *
 *     const r = limiter.reserve(now, estimatedTokens, deadlineAt);
 *     // !r.ok: fail with 'queue_full' or 'deadline_exceeded', no request sent.
 *     let c = r;
 *     while (c.ok && c.waitMs > 0) {
 *       await sleep(c.sleepMs, signal);       // on abort: limiter.release(now, r.slot)
 *       c = limiter.confirm(now, r.slot);     // the queue may have moved meanwhile
 *     }
 *     // !c.ok: the deadline passed while waiting ('deadline_exceeded').
 *     send();
 *     // every response with x-ratelimit-* headers, success or error, 429 included:
 *     limiter.observe(now, parseRateLimitHeaders(headers), r.slot);
 *     // 429 rate_limit_exceeded or slow_down (never insufficient_quota, request too large, flex capacity):
 *     limiter.onThrottle(now, retryAfterMs, r.slot, { code, headroom });  // then reserve again
 *     // success:
 *     limiter.onSuccess(now);
 */

// Headers showing at least this share of the bucket left, after the pause: the storm is over.
const RECOVERED_ROOM = 0.5;

export class RateLimiter implements Planner {
  private readonly mirror: BucketMirror;
  private readonly pacer: CubicPacer;
  private readonly queue: SlotQueue;
  /** The bucket's depth in ms of its limit: the fleet's shared bucket is laid out the same. */
  readonly burstMs: number;

  /** The room the last headers showed (0 empty, 1 full), and when. */
  private recentRoom: number | undefined;
  private recentRoomAt = Number.NEGATIVE_INFINITY;
  /** When the last answers and 429s came, within the storm window. */
  private answersAt: number[] = [];
  private throttlesAt: number[] = [];
  private pausedUntil = Number.NEGATIVE_INFINITY;
  private clock = Number.NEGATIVE_INFINITY;

  /** Trusts its options: resolveOptions (src/options.ts) has checked each against its range. */
  constructor(options: LimiterOptions = {}) {
    const o = withDefaults(options);
    const touch = () => this.queue.touch();
    this.mirror = new BucketMirror({ rpm: o.initialRpm, tpm: o.initialTpm, margin: o.safetyMargin }, touch);
    const { burstMs, beta, cubicScale: scale, minRatePerSec: minRate, cutCooldownMs: cooldownMs } = o;
    this.pacer = new CubicPacer({ burstMs, beta, scale, minRate, cooldownMs }, this.mirror, touch);
    this.burstMs = o.burstMs;
    this.queue = new SlotQueue(
      {
        maxQueue: o.maxQueue,
        maxSleepMs: o.maxSleepMs,
        coldProbes: o.coldStartProbes,
        coldHoldMs: o.coldStartHoldMs,
        // A seeded limit is the user's word for what the server would say: no need to ask first.
        cold: o.initialRpm === undefined && o.initialTpm === undefined && o.coldStartHoldMs > 0,
      },
      this,
    );
  }

  /**
   * Reserve a send slot for a request estimated at `tokens` tokens (prompt
   * plus output budget, as the server counts it). If the slot would start
   * after `deadlineAt`, refuse with 'deadline' at once; refusals book nothing.
   * Unless `waitMs` is 0, the caller sleeps `sleepMs`, then calls `confirm`.
   */
  reserve(now: number, tokens: number, deadlineAt?: number): Reservation {
    const at = this.sync(now);
    return this.queue.reserve(at, this.mirror.cost(tokens), deadlineAt ?? Number.POSITIVE_INFINITY);
  }

  /**
   * Call after each sleep, right before sending. `waitMs` 0 means go now
   * (and records the send time); more means sleep `sleepMs` again and confirm
   * again: the start is further off, or moved while the caller slept (a
   * throttle, a lower limit, or a higher one). A refusal means the start moved
   * past the deadline.
   */
  confirm(now: number, slot: Slot): Reservation {
    return this.queue.confirm(this.sync(now), slot);
  }

  /**
   * Give back a reservation that will not be used (the caller aborted while
   * waiting), so the queue behind it moves up. A slot already reached counts
   * as spent: the request may be on the wire.
   */
  release(now: number, slot: Slot): void {
    this.news(now, () => this.queue.release(slot));
  }

  /**
   * Feedback from every response carrying x-ratelimit-* headers, 429s
   * included. `slot` is the reservation that request was sent under: it
   * dates the server's numbers, so they are compared with what we had sent by
   * then. Without it, headers only set the limits and seed an empty mirror.
   */
  observe(now: number, headroom: RateLimitHeadroom, slot?: Slot): void {
    this.news(now, (at) => {
      this.answersAt = recent(this.answersAt, at);
      this.answersAt.push(at);
      const room = roomOf(headroom);
      if (room !== undefined) {
        this.recentRoom = room;
        this.recentRoomAt = at;
      }
      const pace = this.pacer.ratePerSec();
      this.mirror.setLimits(at, positive(headroom.limitRequests), positive(headroom.limitTokens));
      this.pacer.repace(at, pace);
      this.mirror.correct(at, headroom, this.queue.sent, slot ? this.queue.sentIndex(slot) : -1);
      if (room !== undefined && room >= RECOVERED_ROOM) this.pacer.rebase(at, this.pausedUntil);
      // Any answer ends the cold start, one without headers too: that server tells no more.
      this.queue.warm(at);
    });
  }

  /**
   * A 429 rate_limit_exceeded (or `slow_down`). What it does depends on what
   * it says (see throttle.ts): an isolated 429, one whose own or recent
   * headers show room, leaves the bucket alone (its caller backs off by the
   * retry policy); a storm pauses everyone until `retryAfterMs` has passed and
   * cuts the send rate to β of what was being sent, once per overload (a 429
   * for a request sent before the last cut, known by its slot, is an echo
   * of the overload already acted on); a slow_down cuts harder and climbs
   * back slower. Returns what it judged.
   */
  onThrottle(
    now: number,
    retryAfterMs?: number,
    slot?: Slot,
    cause: { code?: string | undefined; headroom?: RateLimitHeadroom | undefined } = {},
  ): ThrottleKind {
    let kind: ThrottleKind = 'storm';
    this.news(now, (at) => {
      this.throttlesAt = recent(this.throttlesAt, at);
      this.throttlesAt.push(at);
      this.answersAt = recent(this.answersAt, at);
      kind = judgeThrottle({
        code: cause.code,
        own: cause.headroom,
        recentRoom: this.recentRoom,
        recentAgeMs: at - this.recentRoomAt,
        throttles: this.throttlesAt.length,
        answers: Math.max(this.answersAt.length, this.throttlesAt.length),
      });
      if (kind !== 'isolated') this.throttled(at, retryAfterMs, slot, kind);
      this.queue.warm(at);
    });
    return kind;
  }

  private throttled(
    at: number,
    retryAfterMs: number | undefined,
    slot: Slot | undefined,
    kind: ThrottleKind,
  ) {
    if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0)
      this.pausedUntil = Math.max(this.pausedUntil, at + retryAfterMs);
    const sent = slot && this.queue.sentIndex(slot) >= 0 ? slot.sentAt : undefined;
    this.pacer.onStorm(at, this.queue.sentPerSec(at), kind === 'slow_down', sent);
    // The server's bucket is full: when the pause ends, one request at a time, no burst.
    this.pacer.noBurstUntil(Math.max(at, this.pausedUntil));
    this.queue.touch();
  }

  /** A success: the rate climbs back along the cubic, and is released once it reaches the advertised limit. */
  onSuccess(now: number): void {
    this.news(now, (at) => {
      this.pacer.recover(at, this.queue.sentPerSec(at));
      this.queue.warm(at);
    });
  }

  snapshot(now: number): LimiterSnapshot {
    const at = this.sync(now);
    const rpm = this.mirror.limitRpm;
    const tpm = this.mirror.limitTpm;
    return {
      ratePerSec: this.pacer.ratePerSec(),
      queueDepth: this.queue.depth,
      ...(this.pausedUntil > at ? { pausedUntil: this.pausedUntil } : {}),
      ...(tpm !== undefined ? { tokensPerSec: tpm / 60, limitTpm: tpm } : {}),
      ...(rpm !== undefined ? { limitRpm: rpm } : {}),
    };
  }

  // --- Planner: the queue asks where a slot may start; every constraint but its order is here ---

  earliest(slot: Slot, at: number, previous: number): number {
    const start = Math.max(at, this.pausedUntil, previous, slot.promised, this.mirror.earliest(slot.tokens));
    // A caller released from the cold-start hold sends "now" when it wakes.
    return this.pacer.earliest(slot.tokens, start, Math.max(at, slot.wokenAt ?? at), previous);
  }

  book(slot: Slot, start: number): void {
    this.mirror.book(slot.tokens, start);
    this.pacer.book(slot.tokens, start);
  }

  commit(slot: Slot): void {
    this.mirror.commit(slot.tokens, slot.start);
    this.pacer.commit(slot.tokens, slot.start);
  }

  restart(): void {
    this.mirror.restart();
    this.pacer.restart();
  }

  /** Time never runs backwards here; what has reached its slot is sent. */
  private sync(now: number): number {
    this.clock = Math.max(this.clock, now);
    this.queue.advance(this.clock);
    return this.clock;
  }

  /** Applies news as of `now`, then lays the queue out again at once, before anyone else's slot comes. */
  private news(now: number, change: (at: number) => void): void {
    const at = this.sync(now);
    change(at);
    this.queue.settle(at);
  }
}

/** The times still inside the storm window as of `at`. */
function recent(times: number[], at: number): number[] {
  let i = 0;
  while (i < times.length && times[i]! <= at - STORM_WINDOW_MS) i++;
  return i === 0 ? times : times.slice(i);
}

function positive(value: number | undefined): number | undefined {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
}
