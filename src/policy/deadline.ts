/**
 * The call's deadline, as every wait and attempt sees it. Pure: the time is
 * passed in. `deadlineMs` undefined means none: every budget is infinite.
 */

/** An attempt needs at least this long: a send slot later than the deadline minus this is useless. */
export const MIN_ATTEMPT_MS = 50;

export class Deadline {
  /** When the call started. */
  readonly startedAtMs: number;
  /** The budget for the whole call; `undefined` = none. */
  readonly deadlineMs: number | undefined;

  constructor(startedAtMs: number, deadlineMs: number | undefined) {
    this.startedAtMs = startedAtMs;
    this.deadlineMs = deadlineMs;
  }

  /** When it passes, or undefined for none. */
  get atMs(): number | undefined {
    return this.deadlineMs === undefined ? undefined : this.startedAtMs + this.deadlineMs;
  }

  /** Time left at `nowMs` (negative once past; Infinity without a deadline). */
  leftMs(nowMs: number): number {
    return this.deadlineMs === undefined ? Infinity : this.deadlineMs - (nowMs - this.startedAtMs);
  }

  /** The latest a send slot is still worth having, or undefined for no limit. */
  get lastSlotAtMs(): number | undefined {
    return this.deadlineMs === undefined ? undefined : this.startedAtMs + this.deadlineMs - MIN_ATTEMPT_MS;
  }

  /** The longest a queue (the fleet's) may hold the call from `nowMs` and leave an attempt room to run. */
  maxQueueMs(nowMs: number): number {
    const left = this.leftMs(nowMs);
    return Number.isFinite(left) ? Math.max(0, left - MIN_ATTEMPT_MS) : Number.POSITIVE_INFINITY;
  }

  /**
   * An attempt's timeout cut to what the deadline leaves (whole ms, never below 1:
   * the SDK refuses anything else); undefined without a deadline: the attempt keeps its own.
   * A clock with fractions of a millisecond (performance.now) leaves fractions.
   */
  attemptTimeoutMs(nowMs: number, timeoutMs: number): number | undefined {
    const left = this.leftMs(nowMs);
    return Number.isFinite(left) ? Math.max(1, Math.floor(Math.min(timeoutMs, left))) : undefined;
  }
}
