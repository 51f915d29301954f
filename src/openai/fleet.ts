import { BlindSends } from '../policy/blind-sends.ts';
import type { SeenRoom, SharedAdmission, SharedAdmit } from '../policy/shared-bucket.ts';
import type { BucketStore, StoreBucket, StoreMode } from '../policy/store.ts';

export interface FleetOptions {
  /** A store call slower than this counts as down: the call paces locally. */
  timeoutMs: number;
  /** After a failure, the store is asked again after this long (rejoin). */
  retryMs: number;
  /** One line per outage. */
  warn: (message: string) => void;
}

/**
 * The fleet-wide side of pacing: the store behind a bounded wait. A store
 * that errors, times out or is unreachable never fails a call: the call
 * paces by its own limiter ('local-fallback') and the store is tried again
 * `retryMs` later. Timers here are real ones, as the store's I/O is.
 */
export class Fleet {
  private readonly store: BucketStore;
  private readonly options: FleetOptions;
  private downUntil = 0;
  private down = false;
  /** Calls that paced locally because the store did not answer. */
  fallbacks = 0;
  /** Per bucket, the room the server last reported to this process: sent with the next booking. */
  private readonly seen = new Map<string, SeenRoom>();
  /** Per bucket, requests sent before its limit was known, not yet charged to the fleet. */
  private readonly blind = new BlindSends();

  constructor(store: BucketStore, options: FleetOptions) {
    this.store = store;
    this.options = options;
  }

  /** Books a slot with the fleet; undefined (and mode local-fallback) when the store did not answer in time. */
  async admit(
    bucket: StoreBucket,
    input: SharedAdmit,
  ): Promise<{ mode: StoreMode; admission?: SharedAdmission }> {
    if (this.down && Date.now() < this.downUntil) return this.fallback();
    const id = seenKey(bucket);
    const seen = this.seen.get(id);
    const blind = input.rpm > 0 ? this.blind.take(id) : undefined;
    let charged = false;
    try {
      const admission = await this.bounded(
        this.store.admit(bucket, { ...input, ...(seen ? { seen } : {}), ...(blind ? { blind } : {}) }),
      );
      charged = admission.ok;
      this.answered();
      return { mode: 'redis', admission };
    } catch (error) {
      this.markDown(error);
      return this.fallback();
    } finally {
      if (blind && !charged) this.blind.giveBack(id, blind);
    }
  }

  /**
   * Another question for the same store (the spend budgets'), under the same bound and the same
   * outage: undefined, counted as a fallback, when the store did not answer in time.
   */
  async ask<T>(work: () => Promise<T>): Promise<T | undefined> {
    if (this.down && Date.now() < this.downUntil) return void this.fallback();
    try {
      const answer = await this.bounded(work());
      this.answered();
      return answer;
    } catch (error) {
      this.markDown(error);
      return void this.fallback();
    }
  }

  /** Tells the store, without waiting (a lost update is one process's count short, never a failed call). */
  tell(work: () => Promise<unknown>): void {
    if (this.down) return;
    this.bounded(work()).catch((e) => this.markDown(e));
  }

  /** What an answer's headers said the bucket holds; rides on this process's next booking (no round trip of its own). */
  saw(bucket: StoreBucket, room: SeenRoom): void {
    if (room.requests === undefined && room.tokens === undefined) return;
    this.seen.set(seenKey(bucket), room);
  }

  /** A request sent before the bucket's limit was known (a cold-start probe): the next paced booking pays for it. */
  sentBlind(bucket: StoreBucket, now: number): void {
    this.blind.sent(seenKey(bucket), now);
  }

  /** Tells the fleet, without waiting: a lost update costs one process a 429, never a call. */
  pause(bucket: StoreBucket, now: number, until: number): void {
    if (this.down) return;
    this.bounded(this.store.pause(bucket, now, until)).catch((e) => this.markDown(e));
  }

  exhaust(bucket: StoreBucket, now: number, until: number): void {
    if (this.down) return;
    this.bounded(this.store.exhaust(bucket, now, until)).catch((e) => this.markDown(e));
  }

  close(): Promise<void> {
    return this.store.close();
  }

  private fallback(): { mode: StoreMode } {
    this.fallbacks++;
    return { mode: 'local-fallback' };
  }

  private answered(): void {
    if (!this.down) return;
    this.down = false;
    this.options.warn('retryscope: the Redis limiter store answers again; pacing and budgets with the fleet');
  }

  private markDown(error: unknown): void {
    this.downUntil = Date.now() + this.options.retryMs;
    if (this.down) return;
    this.down = true;
    const why = error instanceof Error ? error.message : String(error);
    this.options.warn(
      `retryscope: the Redis limiter store did not answer (${why}); pacing and budgets locally, retrying every ${this.options.retryMs} ms`,
    );
  }

  private bounded<T>(work: Promise<T>): Promise<T> {
    return answerWithin(work, this.options.timeoutMs);
  }
}

/** `work`, or a rejection once `timeoutMs` passed without its answer: a store that slow counts as down. */
export function answerWithin<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      // After a stall of the event loop (a busy or descheduled process) the timer and the
      // reply are due together, and timers run before I/O: give a reply that has already
      // arrived one turn of the loop to be read before calling the store down.
      setImmediate(() => {
        if (!settled) reject(new Error(`no answer in ${timeoutMs} ms`));
      });
    }, timeoutMs);
    timer.unref?.();
    work.then(
      (v) => {
        settled = true;
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        settled = true;
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

function seenKey(bucket: StoreBucket): string {
  return `${bucket.credential}\u0000${bucket.scope}`;
}
