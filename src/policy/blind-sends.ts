/**
 * Sends a process made to a bucket before its limit was known (cold-start
 * probes, answers without rate-limit headers): the fleet's shared bucket
 * could not pace them, so the first booking that knows the limit pays for
 * them (see `admitShared`). Pure: time comes in as `now`.
 */

/** How many such sends, and when the last one left. */
export interface BlindTally {
  count: number;
  lastAt: number;
}

export class BlindSends {
  private readonly tally = new Map<string, BlindTally>();

  sent(bucket: string, now: number): void {
    const t = this.tally.get(bucket);
    this.tally.set(bucket, { count: (t?.count ?? 0) + 1, lastAt: Math.max(t?.lastAt ?? now, now) });
  }

  /** Taken by one booking, so that concurrent bookings do not pay twice. */
  take(bucket: string): BlindTally | undefined {
    const t = this.tally.get(bucket);
    this.tally.delete(bucket);
    return t;
  }

  /** A booking that charged nothing (refused, or the store did not answer) hands its tally on. */
  giveBack(bucket: string, taken: BlindTally): void {
    const t = this.tally.get(bucket);
    this.tally.set(
      bucket,
      t ? { count: t.count + taken.count, lastAt: Math.max(t.lastAt, taken.lastAt) } : taken,
    );
  }
}

/**
 * After a booking made while the bucket's limit was unknown (it paced
 * nothing): once the client's cold-start hold has learned the limit the call
 * books again; a call sent still blind is tallied for the next booking.
 */
export function afterBlindBooking(limitKnown: boolean): 'book-again' | 'tally' {
  return limitKnown ? 'book-again' : 'tally';
}
