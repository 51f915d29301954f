/**
 * A reservation in the limiter's queue, as an object its caller holds and hands back: no
 * numbers to look up, and a held reservation that joins the queue stays the same slot.
 */

/**
 * Where a reservation stands: held for the first answer, waiting in the queue, sent (its start
 * has come), refused (the queue pushed it past its deadline; its caller has not heard yet), or
 * done (released, or its refusal told).
 */
export type SlotState = 'held' | 'waiting' | 'sent' | 'refused' | 'done';

/** One reservation. Its fields are the limiter's to change; callers read them, if anything. */
export class Slot {
  /** Its place in the queue: FIFO by this. A held slot takes a fresh one when it joins the queue. */
  seq: number;
  /** The number it was reserved under; it never changes. */
  readonly ticket: number;
  /** Token estimate, already capped to what the bucket can ever hold. */
  readonly tokens: number;
  readonly deadlineAt: number;
  state: SlotState = 'waiting';
  /** Its planned start (waiting), when it left the queue (sent), the hold's end (held), or where the queue pushed it (refused). */
  start = 0;
  /** When its caller will next be awake (to send or confirm): a slot never moves before it. */
  promised = 0;
  /** When it actually left (set by `confirm`), else its start. */
  sentAt = 0;
  /** Released from the cold-start hold: its caller wakes then, and may spend burst credit then. */
  wokenAt: number | undefined;

  constructor(seq: number, tokens: number, deadlineAt: number) {
    this.seq = seq;
    this.ticket = seq;
    this.tokens = tokens;
    this.deadlineAt = deadlineAt;
  }
}

export type Reservation =
  | {
      ok: true;
      /** Until the planned start; 0 = send now. */
      waitMs: number;
      /** How long to sleep before calling `confirm`: the wait, but at most `maxSleepMs`. */
      sleepMs: number;
      /** Hand it back to `confirm`, `release`, `observe` and `onThrottle`. */
      slot: Slot;
    }
  | { ok: false; reason: 'queue_full' | 'deadline'; waitMs: number };
