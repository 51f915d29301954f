import type { RateLimitHeadroom } from './ratelimit-headers.ts';
import { judgeThrottle, roomOf, STORM_WINDOW_MS, type ThrottleKind } from './throttle.ts';

/**
 * Client-side pacing for one API key: a pure scheduler that hands out send
 * slots, so that a crowd of callers reaches the server no faster than its
 * limit lets them through. No timers: time comes in as `now` (ms).
 *
 * Three constraints decide a slot, and the latest wins:
 *
 * - a mirror of the server's buckets: OpenAI limits are RPM and TPM buckets
 *   that refill continuously. The mirror is virtual scheduling (GCRA): per
 *   bucket, the time at which it would be empty given every request we have
 *   sent. It is seeded and corrected from the `x-ratelimit-*` headers of each
 *   response, measured against what we had sent by the time that request was
 *   admitted, so in-flight requests are neither lost nor counted twice.
 * - a pacer that spreads bursts: at most `burstMs` worth of the send rate at
 *   once, then one request per interval. Its rate is the advertised limit,
 *   or less after a throttle: AWS adaptive retry's CUBIC (multiplicative
 *   decrease on a 429, cubic recovery on successes). With exact headers the
 *   mirror alone avoids 429s; the CUBIC is what still converges when they
 *   lie: another client on the same key, a token estimate that is too low,
 *   no headers at all.
 * - a pause for everyone until a 429's `retry-after` has passed.
 *
 * Slots are first come, first served. When news arrives while callers wait
 * (a throttle, a fuller or emptier bucket than we thought, a new limit) the
 * queue is re-laid at once; waiting callers sleep at most `maxSleepMs` and
 * then `confirm`, which tells them their current start. A slot never moves
 * before its caller's next wake-up.
 *
 * How the adapter drives it, per attempt (one instance per API key):
 *
 *     const r = limiter.reserve(now, estimatedTokens, deadlineAt);
 *     // !r.ok: fail with 'queue_full' or 'deadline_exceeded', no request sent.
 *     let c = r;
 *     while (c.ok && c.waitMs > 0) {
 *       await sleep(c.sleepMs, signal);       // on abort: limiter.release(now, r.ticket)
 *       c = limiter.confirm(now, r.ticket);   // the queue may have moved meanwhile
 *     }
 *     // !c.ok: the deadline passed while waiting ('deadline_exceeded').
 *     send();
 *     // every response with x-ratelimit-* headers, success or error, 429 included:
 *     limiter.observe(now, parseRateLimitHeaders(headers), r.ticket);
 *     // 429 rate_limit_exceeded or slow_down (never insufficient_quota, request too large, flex capacity):
 *     limiter.onThrottle(now, retryAfterMs, r.ticket, { code, headroom });  // then reserve again
 *     // success:
 *     limiter.onSuccess(now);
 */

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

export type Reservation =
  | {
      ok: true;
      /** Until the planned start; 0 = send now. */
      waitMs: number;
      /** How long to sleep before calling `confirm`: the wait, but at most `maxSleepMs`. */
      sleepMs: number;
      ticket: number;
    }
  | { ok: false; reason: 'queue_full' | 'deadline'; waitMs: number };

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
// A held caller looks again after a quarter of the time the hold has lasted so far (at least 20 ms):
// a first answer that comes fast releases the crowd within a fraction of its own latency, not a whole
// maxSleepMs later, and a long hold still costs each caller only a few dozen wake-ups.
const COLD_POLL_SHARE = 0.25;
const COLD_POLL_MIN_MS = 20;
// Below this send rate (requests/s) a 429 pauses the caller but does not cut its rate.
const MIN_RATE_TO_CUT = 3;
// After a cut, the rate takes at least this many of its own intervals to climb back.
const RECOVERY_INTERVALS = 8;
// ... and at most this long at any rate that allows it: AWS's K grows with the rate (9 s at
// 1000/s), and a storm that is over should cost seconds, not tens of them. The mirror of the
// headers, not the cubic, is what keeps a quick climb from overshooting.
const MAX_RECOVERY_MS = 3000;
// Headers showing at least this share of the bucket left, after the pause: the storm is over.
const RECOVERED_ROOM = 0.5;
// OpenAI's slow_down asks for the original rate, held steady, then a gradual increase:
// cut to half, and a climb back over a minute instead of seconds.
const SLOW_DOWN_BETA = 0.5;
const SLOW_DOWN_RECOVERY_MS = 60_000;
// The send rate that a decrease starts from is measured over this window.
const MEASURE_WINDOW_MS = 1000;
// Sent requests remembered for header corrections: far more than are ever in flight at once.
const LEDGER_SIZE = 10_000;
const MINUTE_MS = 60_000;

interface Booking {
  readonly id: number;
  /** Token estimate, already capped to what the bucket can ever hold. */
  readonly tokens: number;
  readonly deadlineAt: number;
  /** When it may start: planned while pending, final once committed. */
  slot: number;
  /** When its caller will next be awake (to send or confirm): a slot never moves before it. */
  promised: number;
  /** When it actually left (set by `confirm`), else its slot. */
  sentAt: number;
}

/** A reservation made before the bucket heard from the server, beyond the probes: not yet in the queue. */
interface Held {
  readonly id: number;
  readonly tokens: number;
  readonly deadlineAt: number;
  /** When it goes if no answer has come: the hold's end, or its own deadline if sooner. */
  readonly until: number;
  /** When its caller next wakes: released before that, it cannot leave sooner. */
  wake: number;
}

/** Per constraint, the time its bucket would be empty (GCRA's theoretical arrival time). */
interface Tats {
  req: number;
  tok: number;
  pace: number;
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

export class RateLimiter {
  private readonly maxQueue: number;
  private readonly maxSleepMs: number;
  private readonly burstMs: number;
  private readonly margin: number;
  private readonly beta: number;
  private readonly scale: number;
  private readonly minRate: number;
  private readonly cooldownMs: number;
  private readonly coldProbes: number;
  private readonly coldHoldMs: number;

  /** True until the first answer (or a seeded limit): only `coldProbes` requests may leave. */
  private cold: boolean;
  private probes = 0;
  private coldSince: number | undefined;
  /** Reservations waiting for the first answer, in ticket order. */
  private held: Held[] = [];
  /** Held tickets that have since joined the queue under a new id (ids there must stay in order). */
  private readonly renamed = new Map<number, number>();

  private rpm: number | undefined;
  private tpm: number | undefined;
  private cubic: Cubic | undefined;
  private lastCutAt = Number.NEGATIVE_INFINITY;
  /** The room the last headers showed (0 empty, 1 full), and when. */
  private recentRoom: number | undefined;
  private recentRoomAt = Number.NEGATIVE_INFINITY;
  /** When the last answers and 429s came, within the storm window. */
  private answersAt: number[] = [];
  private throttlesAt: number[] = [];
  private pausedUntil = Number.NEGATIVE_INFINITY;
  /** From when the pacer has no burst credit (the end of a throttle's pause). */
  private noBurstFrom = Number.NEGATIVE_INFINITY;
  private clock = Number.NEGATIVE_INFINITY;
  private nextId = 1;
  /** The newest ticket whose headers corrected the mirror; older news is ignored. */
  private correctedBy = 0;

  /** The buckets after every committed (sent) request. */
  private readonly committed: Tats = emptyTats();
  /** The buckets after every pending one too: where a new reservation goes. */
  private tail: Tats = emptyTats();
  /** Waiting reservations, in ticket order, slots non-decreasing. */
  private pending: Booking[] = [];
  /** Sent reservations, in ticket order, the most recent LEDGER_SIZE. */
  private ledger: Booking[] = [];
  /** Pending reservations the queue pushed past their deadline, until their caller hears. */
  private readonly refused = new Map<number, number>();
  private dirty = false;

  /** Trusts its options: resolveOptions (src/options.ts) has checked each against its range. */
  constructor(options: LimiterOptions = {}) {
    this.maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
    this.maxSleepMs = options.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS;
    this.burstMs = options.burstMs ?? DEFAULT_BURST_MS;
    this.margin = options.safetyMargin ?? DEFAULT_SAFETY_MARGIN;
    this.beta = options.beta ?? DEFAULT_BETA;
    this.scale = options.cubicScale ?? DEFAULT_CUBIC_SCALE;
    this.minRate = options.minRatePerSec ?? DEFAULT_MIN_RATE_PER_SEC;
    this.cooldownMs = options.cutCooldownMs ?? DEFAULT_CUT_COOLDOWN_MS;
    this.coldProbes = options.coldStartProbes ?? DEFAULT_COLD_START_PROBES;
    this.coldHoldMs = options.coldStartHoldMs ?? DEFAULT_COLD_START_HOLD_MS;
    this.rpm = options.initialRpm;
    this.tpm = options.initialTpm;
    // A seeded limit is the user's word for what the server would say: no need to ask first.
    this.cold = this.rpm === undefined && this.tpm === undefined && this.coldHoldMs > 0;
  }

  /**
   * Reserve a send slot for a request estimated at `tokens` tokens (prompt
   * plus output budget, as the server counts it). If the slot would start
   * after `deadlineAt`, refuse with 'deadline' at once; refusals book nothing.
   * Unless `waitMs` is 0, the caller sleeps `sleepMs`, then calls `confirm`.
   */
  reserve(now: number, tokens: number, deadlineAt?: number): Reservation {
    const at = this.sync(now);
    const cost = Number.isFinite(tokens) && tokens > 0 ? Math.min(tokens, this.tokenCapacity()) : 0;
    const deadline = deadlineAt ?? Number.POSITIVE_INFINITY;
    if (this.cold) {
      this.coldSince ??= at;
      if (this.probes >= this.coldProbes) return this.hold(at, cost, deadline);
      this.probes++;
    }
    return this.book(at, cost, deadline, this.nextId++);
  }

  /** Places a reservation in the queue under ticket `id`. */
  private book(at: number, cost: number, deadlineAt: number, id: number, wake = at): Reservation {
    const last = this.pending.at(-1);
    const booking: Booking = { id, tokens: cost, deadlineAt, slot: 0, promised: wake, sentAt: 0 };
    const previous = last?.slot ?? this.ledger.at(-1)?.slot ?? Number.NEGATIVE_INFINITY;
    const slot = this.slotFor(this.tail, booking, at, previous);
    const waitMs = slot - at;
    if (slot > booking.deadlineAt) return { ok: false, reason: 'deadline', waitMs };
    if (slot > at && this.pending.length + this.held.length >= this.maxQueue)
      return { ok: false, reason: 'queue_full', waitMs };

    const sleepMs = Math.min(waitMs, this.maxSleepMs);
    const placed: Booking = { ...booking, slot, promised: at + sleepMs, sentAt: slot };
    this.apply(this.tail, placed, slot);
    this.pending.push(placed);
    this.advance(at);
    return { ok: true, waitMs, sleepMs, ticket: id };
  }

  /** Cold, probes out: wait for the first answer, until the hold's end or the caller's deadline. */
  private hold(at: number, cost: number, deadlineAt: number): Reservation {
    const until = Math.min((this.coldSince ?? at) + this.coldHoldMs, deadlineAt);
    if (until <= at) return this.book(at, cost, deadlineAt, this.nextId++);
    if (this.pending.length + this.held.length >= this.maxQueue)
      return { ok: false, reason: 'queue_full', waitMs: until - at };
    const id = this.nextId++;
    const waitMs = until - at;
    const sleepMs = this.heldSleepMs(at, waitMs);
    this.held.push({ id, tokens: cost, deadlineAt, until, wake: at + sleepMs });
    return { ok: true, waitMs, sleepMs, ticket: id };
  }

  /** How long a held caller sleeps before it looks again: see COLD_POLL_SHARE. */
  private heldSleepMs(at: number, waitMs: number): number {
    const held = at - (this.coldSince ?? at);
    return Math.min(waitMs, this.maxSleepMs, Math.max(COLD_POLL_MIN_MS, held * COLD_POLL_SHARE));
  }

  /** A held reservation joins the queue, under a fresh id so the queue stays in ticket order. */
  private unhold(at: number, held: Held): Reservation {
    const id = this.nextId++;
    this.renamed.set(held.id, id);
    if (this.renamed.size > LEDGER_SIZE) this.renamed.delete(this.renamed.keys().next().value as number);
    // Its caller is asleep until `wake`: a slot before that would be counted as sent when it is not,
    // and the queue it released would leave together at the wake-up, as a burst.
    const placed = this.book(at, held.tokens, held.deadlineAt, id, Math.max(at, held.wake));
    if (!placed.ok) this.refused.set(id, at + placed.waitMs);
    return placed.ok ? { ...placed, ticket: held.id } : placed;
  }

  /** The first answer: every held reservation joins the queue, at the rate just learned. */
  private warm(at: number): void {
    if (!this.cold) return;
    this.cold = false;
    // What was just learned lays out the queue first, so the held join it at the learned rate.
    if (this.dirty) this.relay(at);
    const held = this.held;
    this.held = [];
    for (const h of held) this.unhold(at, h);
  }

  /** The queue's id for a ticket handed out while cold. */
  private resolve(ticket: number): number {
    return this.renamed.get(ticket) ?? ticket;
  }

  /**
   * Call after each sleep, right before sending. `waitMs` 0 means go now
   * (and records the send time); more means sleep `sleepMs` again and confirm
   * again: the start is further off, or moved while the caller slept (a
   * throttle, a lower limit, or a higher one). A refusal means the start moved
   * past the deadline. An unknown ticket is let through.
   */
  confirm(now: number, given: number): Reservation {
    const at = this.sync(now);
    const heldIndex = this.held.findIndex((h) => h.id === given);
    if (heldIndex >= 0) {
      const held = this.held[heldIndex]!;
      if (at < held.until) {
        const waitMs = held.until - at;
        const sleepMs = this.heldSleepMs(at, waitMs);
        held.wake = at + sleepMs;
        return { ok: true, waitMs, sleepMs, ticket: given };
      }
      // No answer in time: it goes now, as best the queue allows.
      this.held.splice(heldIndex, 1);
      return this.unhold(at, held);
    }
    const ticket = this.resolve(given);
    const refusedSlot = this.refused.get(ticket);
    if (refusedSlot !== undefined) {
      this.refused.delete(ticket);
      return { ok: false, reason: 'deadline', waitMs: Math.max(0, refusedSlot - at) };
    }
    const waiting = findById(this.pending, ticket);
    if (waiting) {
      const waitMs = waiting.slot - at;
      const sleepMs = Math.min(waitMs, this.maxSleepMs);
      waiting.promised = at + sleepMs;
      return { ok: true, waitMs, sleepMs, ticket: given };
    }
    const sent = findById(this.ledger, ticket);
    if (sent) sent.sentAt = Math.max(sent.sentAt, at);
    return { ok: true, waitMs: 0, sleepMs: 0, ticket: given };
  }

  /**
   * Give back a reservation that will not be used (the caller aborted while
   * waiting), so the queue behind it moves up. A slot already reached counts
   * as spent: the request may be on the wire.
   */
  release(now: number, given: number): void {
    this.news(now, () => {
      const heldIndex = this.held.findIndex((h) => h.id === given);
      if (heldIndex >= 0) this.held.splice(heldIndex, 1);
      const ticket = this.resolve(given);
      this.refused.delete(ticket);
      const index = indexById(this.pending, ticket);
      if (index < 0) return;
      this.pending.splice(index, 1);
      this.dirty = true;
    });
  }

  /**
   * Feedback from every response carrying x-ratelimit-* headers, 429s
   * included. `ticket` is the reservation that request was sent under: it
   * dates the server's numbers, so they are compared with what we had sent by
   * then. Without it, headers only set the limits and seed an empty mirror.
   */
  observe(now: number, headroom: RateLimitHeadroom, ticket?: number): void {
    this.news(now, (at) => {
      this.answersAt = recent(this.answersAt, at);
      this.answersAt.push(at);
      const room = roomOf(headroom);
      if (room !== undefined) {
        this.recentRoom = room;
        this.recentRoomAt = at;
      }
      this.learn(at, headroom, ticket === undefined ? undefined : this.resolve(ticket));
      if (room !== undefined && room >= RECOVERED_ROOM) this.rebase(at);
      // Any answer ends the cold start, one without headers too: that server tells no more.
      this.warm(at);
    });
  }

  private learn(at: number, headroom: RateLimitHeadroom, ticket: number | undefined): void {
    const pace = this.paceRatePerSec();
    this.setLimits(at, positive(headroom.limitRequests), positive(headroom.limitTokens));
    this.repace(at, pace);
    const usedRequests = used(this.rpm, headroom.remainingRequests, headroom.resetRequestsMs);
    const usedTokens = used(this.tpm, headroom.remainingTokens, headroom.resetTokensMs);
    if (usedRequests === undefined && usedTokens === undefined) return;

    const origin = ticket === undefined || ticket <= this.correctedBy ? -1 : indexById(this.ledger, ticket);
    if (origin < 0) {
      // Undated news can only seed a bucket we know nothing about, conservatively as of now.
      if (this.rpm && usedRequests !== undefined && this.committed.req === Number.NEGATIVE_INFINITY)
        this.committed.req = at + (usedRequests * MINUTE_MS) / this.rpm;
      if (this.tpm && usedTokens !== undefined && this.committed.tok === Number.NEGATIVE_INFINITY)
        this.committed.tok = at + (usedTokens * MINUTE_MS) / this.tpm;
      this.dirty = true;
      return;
    }

    // The server's buckets as that request left them, plus everything we sent since.
    const dated = this.ledger[origin]!;
    this.correctedBy = dated.id;
    const rebuilt: Tats = { ...this.committed };
    if (this.rpm && usedRequests !== undefined)
      rebuilt.req = dated.sentAt + (usedRequests * MINUTE_MS) / this.rpm;
    if (this.tpm && usedTokens !== undefined)
      rebuilt.tok = dated.sentAt + (usedTokens * MINUTE_MS) / this.tpm;
    for (let i = origin + 1; i < this.ledger.length; i++) {
      const later = this.ledger[i]!;
      const fresh = this.bucketCosts(later);
      if (this.rpm && usedRequests !== undefined)
        rebuilt.req = Math.max(rebuilt.req, later.sentAt) + fresh.req;
      if (this.tpm && usedTokens !== undefined) rebuilt.tok = Math.max(rebuilt.tok, later.sentAt) + fresh.tok;
    }
    this.committed.req = rebuilt.req;
    this.committed.tok = rebuilt.tok;
    this.dirty = true;
  }

  /**
   * A 429 rate_limit_exceeded (or `slow_down`). What it does depends on what
   * it says (see throttle.ts): an isolated 429, one whose own or recent
   * headers show room, leaves the bucket alone (its caller backs off by the
   * retry policy); a storm pauses everyone until `retryAfterMs` has passed and
   * cuts the send rate to β of what was being sent, once per overload (a 429
   * for a request sent before the last cut, known by its ticket, is an echo
   * of the overload already acted on); a slow_down cuts harder and climbs
   * back slower. Returns what it judged.
   */
  onThrottle(
    now: number,
    retryAfterMs?: number,
    ticket?: number,
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
      if (kind !== 'isolated')
        this.throttled(at, retryAfterMs, ticket === undefined ? undefined : this.resolve(ticket), kind);
      this.warm(at);
    });
    return kind;
  }

  private throttled(
    at: number,
    retryAfterMs: number | undefined,
    ticket: number | undefined,
    kind: ThrottleKind,
  ): void {
    if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0)
      this.pausedUntil = Math.max(this.pausedUntil, at + retryAfterMs);
    // One cut per overload: a 429 for a request sent before the last cut is its echo, and so is
    // any 429 within the cooldown. Without the cooldown, a closed loop of callers meets a long storm
    // with a cut per round trip, down to the floor, and takes tens of seconds to climb back.
    const sent = ticket === undefined ? undefined : findById(this.ledger, ticket);
    const echo =
      (sent !== undefined && sent.sentAt <= this.lastCutAt) || at - this.lastCutAt < this.cooldownMs;
    // A caller sending a request or two a second is not what overloads the key (others on it are):
    // cutting its rate would only stretch its own retries far past the server's retry-after.
    // A slow_down is OpenAI asking this very traffic to slow, whatever its share.
    const light = kind !== 'slow_down' && this.measuredRatePerSec(at) < MIN_RATE_TO_CUT;
    if (!echo && !light) {
      const pace = this.paceRatePerSec();
      this.cut(at, kind === 'slow_down');
      this.repace(at, pace);
    }
    // The server's bucket is full: when the pause ends, one request at a time, no burst. Kept
    // apart from the pacer's bucket: rescaled by a later cut, that lead would become a long stall.
    this.noBurstFrom = Math.max(this.noBurstFrom, at, this.pausedUntil);
    this.dirty = true;
  }

  private cut(at: number, slowDown = false): void {
    const pace = this.paceRatePerSec();
    const measured = this.measuredRatePerSec(at);
    const from = Math.max(this.minRate, Math.min(pace, measured > 0 ? measured : pace));
    const base = Number.isFinite(from) ? from : this.minRate;
    const beta = slowDown ? Math.min(this.beta, SLOW_DOWN_BETA) : this.beta;
    // AWS's K, capped to a few seconds, but never fewer than RECOVERY_INTERVALS sends: at a few
    // requests a minute its K is shorter than one interval and the cut would do nothing.
    const aws = Math.min(Math.cbrt((base * (1 - beta)) / this.scale), MAX_RECOVERY_MS / 1000);
    const k = Math.max(aws, RECOVERY_INTERVALS / base, slowDown ? SLOW_DOWN_RECOVERY_MS / 1000 : 0);
    this.cubic = {
      wMax: base,
      cutAt: at,
      k,
      c: (base * (1 - beta)) / k ** 3,
      rate: Math.max(this.minRate, base * beta),
      slowDown,
      rebased: false,
    };
    this.lastCutAt = at;
  }

  /**
   * The headers say the bucket refilled after a storm: climb to the advertised limit within
   * MAX_RECOVERY_MS, not back to the rate the storm left (the measured rate during a storm is
   * its pauses', and a cubic aimed there takes tens of seconds to reach the limit).
   */
  private rebase(at: number): void {
    const cubic = this.cubic;
    if (!cubic || cubic.slowDown || cubic.rebased || this.rpm === undefined) return;
    if (at < this.pausedUntil) return;
    const target = this.rpm / 60;
    if (target <= cubic.rate) return;
    const k = Math.max(MAX_RECOVERY_MS / 1000, RECOVERY_INTERVALS / Math.max(cubic.rate, this.minRate) / 4);
    this.cubic = {
      ...cubic,
      wMax: target,
      cutAt: at,
      k,
      c: (target - cubic.rate) / k ** 3,
      rebased: true,
    };
  }

  /** A success: the rate climbs back along the cubic, and is released once it reaches the advertised limit. */
  onSuccess(now: number): void {
    this.news(now, (at) => {
      this.recover(at);
      this.warm(at);
    });
  }

  private recover(at: number): void {
    const cubic = this.cubic;
    if (!cubic) return;
    const t = (at - cubic.cutAt) / 1000;
    const target = cubic.c * (t - cubic.k) ** 3 + cubic.wMax;
    // As AWS does, never more than twice what is actually being sent: without
    // a ceiling, a cubic left alone grows without bound and releases the whole
    // queue at once. The cap never lowers the rate, so a quiet spell costs nothing.
    const rate = Math.max(cubic.rate, Math.min(target, 2 * this.measuredRatePerSec(at)));
    const pace = this.paceRatePerSec();
    if (this.rpm !== undefined && rate >= this.rpm / 60) this.cubic = undefined;
    else cubic.rate = rate;
    this.repace(at, pace);
    this.dirty = true;
  }

  snapshot(now: number): LimiterSnapshot {
    const at = this.sync(now);
    return {
      ratePerSec: this.paceRatePerSec(),
      queueDepth: this.pending.length + this.held.length,
      ...(this.pausedUntil > at ? { pausedUntil: this.pausedUntil } : {}),
      ...(this.tpm !== undefined ? { tokensPerSec: this.tpm / 60, limitTpm: this.tpm } : {}),
      ...(this.rpm !== undefined ? { limitRpm: this.rpm } : {}),
    };
  }

  /** Time never runs backwards here; what has reached its slot is sent. */
  private sync(now: number): number {
    this.clock = Math.max(this.clock, now);
    this.advance(this.clock);
    return this.clock;
  }

  /** Applies news as of `now`, then lays the queue out again at once, before anyone else's slot comes. */
  private news(now: number, change: (at: number) => void): void {
    const at = this.sync(now);
    change(at);
    if (!this.dirty) return;
    this.relay(at);
    this.advance(at);
  }

  /** Pending reservations whose slot has come are sent: they join the committed buckets and the ledger. */
  private advance(at: number): void {
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.slot <= at) {
      const booking = this.pending[n]!;
      this.apply(this.committed, booking, booking.slot);
      this.ledger.push(booking);
      n++;
    }
    if (n > 0) this.pending.splice(0, n);
    if (this.ledger.length > LEDGER_SIZE * 1.5) this.ledger.splice(0, this.ledger.length - LEDGER_SIZE);
  }

  /** Lays the queue out again from the committed buckets, in order; a reservation pushed past its deadline leaves it. */
  private relay(at: number): void {
    const tail: Tats = { ...this.committed };
    const kept: Booking[] = [];
    let previous = this.ledger.at(-1)?.slot ?? Number.NEGATIVE_INFINITY;
    for (const booking of this.pending) {
      const slot = this.slotFor(tail, booking, at, previous);
      if (slot > booking.deadlineAt) {
        this.refused.set(booking.id, slot);
        continue;
      }
      booking.slot = slot;
      booking.sentAt = slot;
      this.apply(tail, booking, slot);
      kept.push(booking);
      previous = slot;
    }
    this.pending = kept;
    this.tail = tail;
    this.dirty = false;
    // Callers who never ask again must not make this grow forever.
    for (const id of this.refused.keys()) {
      if (this.refused.size <= this.maxQueue) break;
      this.refused.delete(id);
    }
  }

  /**
   * The earliest start that every constraint allows, at or after now, the
   * pause, the reservation before it (`previous`) and what its caller was told.
   */
  private slotFor(tats: Tats, booking: Booking, at: number, previous: number): number {
    const cost = this.bucketCosts(booking);
    let slot = Math.max(at, this.pausedUntil, previous, booking.promised);
    if (this.rpm) slot = Math.max(slot, tats.req - (this.requestCapacity() - 1) * cost.req);
    if (this.tpm) {
      const room = Math.max(0, this.tokenCapacity() - booking.tokens);
      slot = Math.max(slot, tats.tok - (room * MINUTE_MS) / this.tpm);
    }
    const pace = this.paceCost(booking);
    if (pace > 0) {
      slot = Math.max(slot, this.paceTat(tats, pace) - Math.max(0, this.burstMs - pace));
      // Burst credit is for sending now. A caller who waits anyway waits its
      // turn, one interval behind the one before: credit that built up while
      // something else held the queue back must not release it all at once.
      if (slot > at) slot = Math.max(slot, previous + pace);
    }
    return slot;
  }

  private apply(tats: Tats, booking: Booking, slot: number): void {
    const cost = this.bucketCosts(booking);
    if (this.rpm) tats.req = Math.max(tats.req, slot) + cost.req;
    if (this.tpm) tats.tok = Math.max(tats.tok, slot) + cost.tok;
    const pace = this.paceCost(booking);
    if (pace > 0) tats.pace = Math.max(this.paceTat(tats, pace), slot) + pace;
  }

  /** The pacer's bucket, with no burst credit before `noBurstFrom`. */
  private paceTat(tats: Tats, pace: number): number {
    return Math.max(tats.pace, this.noBurstFrom + Math.max(0, this.burstMs - pace));
  }

  /** What one request adds to each mirrored bucket, in ms of its drain. */
  private bucketCosts(booking: Booking): { req: number; tok: number } {
    return {
      req: this.rpm ? MINUTE_MS / this.rpm : 0,
      tok: this.tpm ? (booking.tokens * MINUTE_MS) / this.tpm : 0,
    };
  }

  /** The pacer's interval for one request: the slower of its request and token rates. */
  private paceCost(booking: Booking): number {
    const rate = this.paceRatePerSec();
    const byRequests = Number.isFinite(rate) ? 1000 / rate : 0;
    const byTokens = this.tpm ? (booking.tokens * MINUTE_MS) / this.tpm : 0;
    return Math.max(byRequests, byTokens);
  }

  private paceRatePerSec(): number {
    const ceiling = this.rpm !== undefined ? this.rpm / 60 : Number.POSITIVE_INFINITY;
    return Math.min(ceiling, this.cubic?.rate ?? Number.POSITIVE_INFINITY);
  }

  private requestCapacity(): number {
    return this.rpm ? capacity(this.rpm, this.margin) : Number.POSITIVE_INFINITY;
  }

  private tokenCapacity(): number {
    return this.tpm ? capacity(this.tpm, this.margin) : Number.POSITIVE_INFINITY;
  }

  /** Requests sent in the last second, per second. */
  private measuredRatePerSec(at: number): number {
    let count = 0;
    for (let i = this.ledger.length - 1; i >= 0 && this.ledger[i]!.slot > at - MEASURE_WINDOW_MS; i--)
      count++;
    return (count * 1000) / MEASURE_WINDOW_MS;
  }

  /** The pacer's rate changed from `before`: what it has let out counts at the new rate. */
  private repace(at: number, before: number): void {
    const after = this.paceRatePerSec();
    if (after === before || !Number.isFinite(before) || !Number.isFinite(after)) return;
    // Never more than a full bucket of debt (no burst credit, one interval to wait): beyond that
    // the lead is not requests sent but a pause's no-burst mark, and a deep cut would stretch it
    // into a stall of many seconds.
    const full = at + Math.max(this.burstMs, 1000 / after);
    this.committed.pace = Math.min(
      rescale(this.committed.pace, at, before, after),
      Math.max(full, this.committed.pace),
    );
    this.dirty = true;
  }

  /** A new limit keeps the bucket's usage: its empty time is rescaled around now. */
  private setLimits(at: number, rpm: number | undefined, tpm: number | undefined): void {
    if (rpm !== undefined && rpm !== this.rpm) {
      if (this.rpm) this.committed.req = rescale(this.committed.req, at, this.rpm, rpm);
      this.rpm = rpm;
      this.dirty = true;
    }
    if (tpm !== undefined && tpm !== this.tpm) {
      if (this.tpm) this.committed.tok = rescale(this.committed.tok, at, this.tpm, tpm);
      this.tpm = tpm;
      this.dirty = true;
    }
  }
}

/** The times still inside the storm window as of `at`. */
function recent(times: number[], at: number): number[] {
  let i = 0;
  while (i < times.length && times[i]! <= at - STORM_WINDOW_MS) i++;
  return i === 0 ? times : times.slice(i);
}

function emptyTats(): Tats {
  return {
    req: Number.NEGATIVE_INFINITY,
    tok: Number.NEGATIVE_INFINITY,
    pace: Number.NEGATIVE_INFINITY,
  };
}

// The slack never exceeds what refills in this long: at 60 000 RPM a 2% margin is 1 200 requests, and a
// caller told "remaining 0" would sit out 1.2 s of refill for it instead of the server's few milliseconds.
const MAX_SLACK_MS = 25;

/** What the mirror lets us fill: the limit less the safety margin, and never less than one. */
function capacity(limit: number, margin: number): number {
  const slack = Math.max(1, Math.min(limit * margin, (limit * MAX_SLACK_MS) / MINUTE_MS));
  return Math.max(1, limit - slack);
}

/** How full the server says a bucket is: `remaining` is exact to a unit; `reset` is the fallback. */
function used(limit: number | undefined, remaining: number | undefined, resetMs: number | undefined) {
  if (!limit) return undefined;
  if (remaining !== undefined) return Math.max(0, limit - remaining);
  if (resetMs !== undefined) return (resetMs * limit) / MINUTE_MS;
  return undefined;
}

function rescale(tat: number, at: number, from: number, to: number): number {
  if (!(tat > at)) return tat;
  return at + ((tat - at) * from) / to;
}

function positive(value: number | undefined): number | undefined {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
}

function indexById(bookings: readonly Booking[], id: number): number {
  let lo = 0;
  let hi = bookings.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const at = bookings[mid]!.id;
    if (at === id) return mid;
    if (at < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

function findById(bookings: readonly Booking[], id: number): Booking | undefined {
  const index = indexById(bookings, id);
  return index < 0 ? undefined : bookings[index];
}
