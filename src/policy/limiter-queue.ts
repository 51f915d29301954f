/**
 * The limiter's queue: slots first come, first served. A reservation is a
 * `Slot` its caller keeps and hands back (to confirm, release, or date the
 * answer to its request); the queue lays the waiting ones out in order, from
 * what a `Planner` (the mirror, the pacer and the pause, combined) allows.
 * When news arrives while callers wait the queue is re-laid at once; waiting
 * callers sleep at most `maxSleepMs` and then confirm, which tells them their
 * current start. A slot never moves before its caller's next wake-up.
 *
 * Before the bucket has heard from the server (a cold start) only a few probes
 * are booked; the rest are held until the first answer, or the hold's end.
 */

import { type Reservation, Slot } from './limiter-slot.ts';

// A held caller looks again after a quarter of the time the hold has lasted so far (at least 20 ms):
// a first answer that comes fast releases the crowd within a fraction of its own latency, not a whole
// maxSleepMs later, and a long hold still costs each caller only a few dozen wake-ups.
const COLD_POLL_SHARE = 0.25;
const COLD_POLL_MIN_MS = 20;
// The send rate that a decrease starts from is measured over this window.
const MEASURE_WINDOW_MS = 1000;
// Sent requests remembered for header corrections: far more than are ever in flight at once.
export const LEDGER_SIZE = 10_000;

/** What decides a slot's start: every constraint but the queue's order. */
export interface Planner {
  /** The earliest start for `slot` after everything queued, not before `at`, `previous` (the slot before it) or its promise. */
  earliest(slot: Slot, at: number, previous: number): number;
  /** Queues `slot` at `start`. */
  book(slot: Slot, start: number): void;
  /** Counts a slot whose start has come as sent. */
  commit(slot: Slot): void;
  /** Forgets the queue, to lay it out again from what was sent. */
  restart(): void;
}

export interface QueueOptions {
  maxQueue: number;
  maxSleepMs: number;
  /** Cold: only this many go before the first answer. */
  coldProbes: number;
  coldHoldMs: number;
  /** Start cold (nothing known yet). */
  cold: boolean;
}

export class SlotQueue {
  private readonly options: QueueOptions;
  private readonly planner: Planner;
  private cold: boolean;
  private probes = 0;
  private coldSince: number | undefined;
  private nextSeq = 1;
  /** Reservations waiting for the first answer, in reservation order. */
  private held: Slot[] = [];
  /** Waiting reservations, in seq order, starts non-decreasing. */
  private pending: Slot[] = [];
  /** Sent reservations, in seq order, the most recent LEDGER_SIZE. */
  private ledger: Slot[] = [];
  private dirty = false;

  constructor(options: QueueOptions, planner: Planner) {
    this.options = options;
    this.planner = planner;
    this.cold = options.cold;
  }

  /** Reservations not yet sent: waiting in the queue or held for the first answer. */
  get depth(): number {
    return this.pending.length + this.held.length;
  }

  /** Sent reservations, oldest first: what dated news is replayed over. */
  get sent(): readonly Slot[] {
    return this.ledger;
  }

  /** Something the planner reads changed: the queue is laid out again before anyone's slot comes. */
  touch(): void {
    this.dirty = true;
  }

  /** A reservation of `tokens` (already the bucket's cost) that must start by `deadlineAt`. */
  reserve(at: number, tokens: number, deadlineAt: number): Reservation {
    if (this.cold) {
      this.coldSince ??= at;
      if (this.probes >= this.options.coldProbes) return this.hold(at, tokens, deadlineAt);
      this.probes++;
    }
    return this.book(at, new Slot(this.nextSeq++, tokens, deadlineAt), at);
  }

  /** Places `slot` at the end of the queue; its caller is awake from `wake`. Refusals book nothing. */
  private book(at: number, slot: Slot, wake: number): Reservation {
    const previous = this.pending.at(-1)?.start ?? this.ledger.at(-1)?.start ?? Number.NEGATIVE_INFINITY;
    slot.promised = wake;
    slot.wokenAt = wake > at ? wake : undefined;
    const start = this.planner.earliest(slot, at, previous);
    const waitMs = start - at;
    if (start > slot.deadlineAt) return { ok: false, reason: 'deadline', waitMs };
    if (start > at && this.depth >= this.options.maxQueue) return { ok: false, reason: 'queue_full', waitMs };

    const sleepMs = Math.min(waitMs, this.options.maxSleepMs);
    slot.state = 'waiting';
    slot.start = start;
    slot.sentAt = start;
    slot.promised = at + sleepMs;
    this.planner.book(slot, start);
    this.pending.push(slot);
    this.advance(at);
    return { ok: true, waitMs, sleepMs, slot };
  }

  /** Cold, probes out: wait for the first answer, until the hold's end or the caller's deadline. */
  private hold(at: number, tokens: number, deadlineAt: number): Reservation {
    const until = Math.min((this.coldSince ?? at) + this.options.coldHoldMs, deadlineAt);
    if (until <= at) return this.book(at, new Slot(this.nextSeq++, tokens, deadlineAt), at);
    if (this.depth >= this.options.maxQueue) return { ok: false, reason: 'queue_full', waitMs: until - at };
    const slot = new Slot(this.nextSeq++, tokens, deadlineAt);
    const waitMs = until - at;
    const sleepMs = this.heldSleepMs(at, waitMs);
    slot.state = 'held';
    slot.start = until;
    slot.promised = at + sleepMs;
    this.held.push(slot);
    return { ok: true, waitMs, sleepMs, slot };
  }

  /** How long a held caller sleeps before it looks again: see COLD_POLL_SHARE. */
  private heldSleepMs(at: number, waitMs: number): number {
    const held = at - (this.coldSince ?? at);
    return Math.min(waitMs, this.options.maxSleepMs, Math.max(COLD_POLL_MIN_MS, held * COLD_POLL_SHARE));
  }

  /** A held reservation joins the queue, at its end (so under a fresh seq). */
  private unhold(at: number, slot: Slot): Reservation {
    slot.seq = this.nextSeq++;
    // Its caller is asleep until its promise: a slot before that would be counted as sent when it
    // is not, and the queue it released would leave together at the wake-up, as a burst.
    const placed = this.book(at, slot, Math.max(at, slot.promised));
    if (!placed.ok) {
      slot.state = 'refused';
      slot.start = at + placed.waitMs;
    }
    return placed;
  }

  /** The first answer: every held reservation joins the queue, at the rate just learned. */
  warm(at: number): void {
    if (!this.cold) return;
    this.cold = false;
    // What was just learned lays out the queue first, so the held join it at the learned rate.
    if (this.dirty) this.relay(at);
    const held = this.held;
    this.held = [];
    for (const slot of held) this.unhold(at, slot);
  }

  /** See RateLimiter.confirm. */
  confirm(at: number, slot: Slot): Reservation {
    switch (slot.state) {
      case 'held': {
        if (at < slot.start) {
          const waitMs = slot.start - at;
          const sleepMs = this.heldSleepMs(at, waitMs);
          slot.promised = at + sleepMs;
          return { ok: true, waitMs, sleepMs, slot };
        }
        // No answer in time: it goes now, as best the queue allows.
        this.held.splice(this.held.indexOf(slot), 1);
        return this.unhold(at, slot);
      }
      case 'refused':
        slot.state = 'done';
        return { ok: false, reason: 'deadline', waitMs: Math.max(0, slot.start - at) };
      case 'waiting': {
        const waitMs = slot.start - at;
        const sleepMs = Math.min(waitMs, this.options.maxSleepMs);
        slot.promised = at + sleepMs;
        return { ok: true, waitMs, sleepMs, slot };
      }
      case 'sent':
        slot.sentAt = Math.max(slot.sentAt, at);
        return { ok: true, waitMs: 0, sleepMs: 0, slot };
      case 'done':
        return { ok: true, waitMs: 0, sleepMs: 0, slot };
    }
  }

  /** See RateLimiter.release. */
  release(slot: Slot): void {
    if (slot.state === 'held') this.held.splice(this.held.indexOf(slot), 1);
    else if (slot.state === 'waiting') {
      this.pending.splice(indexBySeq(this.pending, slot.seq), 1);
      this.dirty = true;
    } else if (slot.state !== 'refused') return;
    slot.state = 'done';
  }

  /** Where `slot` is among the sent ones, or -1 (not sent, or long forgotten). */
  sentIndex(slot: Slot): number {
    return slot.state === 'sent' ? indexBySeq(this.ledger, slot.seq) : -1;
  }

  /** Requests sent in the last second, per second. */
  sentPerSec(at: number): number {
    // The ledger is in start order, so the window's first entry is found by bisection: a count from
    // the end was O(rate) on every success, thousands of steps per call at a high rate.
    const since = at - MEASURE_WINDOW_MS;
    let lo = 0;
    let hi = this.ledger.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ledger[mid]!.start > since) hi = mid;
      else lo = mid + 1;
    }
    return ((this.ledger.length - lo) * 1000) / MEASURE_WINDOW_MS;
  }

  /** If anything changed, lays the queue out again now; then sends what has reached its start. */
  settle(at: number): void {
    if (!this.dirty) return;
    this.relay(at);
    this.advance(at);
  }

  /** Waiting reservations whose start has come are sent: they join the committed buckets and the ledger. */
  advance(at: number): void {
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.start <= at) {
      const slot = this.pending[n]!;
      slot.state = 'sent';
      this.planner.commit(slot);
      this.ledger.push(slot);
      n++;
    }
    if (n > 0) this.pending.splice(0, n);
    if (this.ledger.length > LEDGER_SIZE * 1.5) this.ledger.splice(0, this.ledger.length - LEDGER_SIZE);
  }

  /** Lays the queue out again from what was sent, in order; a reservation pushed past its deadline leaves it. */
  private relay(at: number): void {
    this.planner.restart();
    const kept: Slot[] = [];
    let previous = this.ledger.at(-1)?.start ?? Number.NEGATIVE_INFINITY;
    for (const slot of this.pending) {
      const start = this.planner.earliest(slot, at, previous);
      slot.start = start;
      if (start > slot.deadlineAt) {
        slot.state = 'refused';
        continue;
      }
      slot.sentAt = start;
      this.planner.book(slot, start);
      kept.push(slot);
      previous = start;
    }
    this.pending = kept;
    this.dirty = false;
  }
}

function indexBySeq(slots: readonly Slot[], seq: number): number {
  let lo = 0;
  let hi = slots.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const at = slots[mid]!.seq;
    if (at === seq) return mid;
    if (at < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
