import type { RateLimitHeadroom } from './ratelimit-headers.ts';

/**
 * The limiter's mirror of the server's buckets. OpenAI limits are RPM and TPM
 * buckets that refill continuously; the mirror is virtual scheduling (GCRA):
 * per bucket, the time at which it would be empty given every request sent
 * (`committed`) and every one queued after them (`tail`). It is seeded and
 * corrected from the `x-ratelimit-*` headers of each response, measured
 * against what had been sent by the time that request left, so in-flight
 * requests are neither lost nor counted twice.
 */

export const MINUTE_MS = 60_000;
// The slack never exceeds what refills in this long: at 60 000 RPM a 2% margin is 1 200 requests, and a
// caller told "remaining 0" would sit out 1.2 s of refill for it instead of the server's few milliseconds.
const MAX_SLACK_MS = 25;

/** A request the mirror has counted as sent: dated news is replayed over those sent after it. */
export interface SentRequest {
  readonly seq: number;
  readonly tokens: number;
  readonly sentAt: number;
}

/** Per bucket, the time it would be empty (GCRA's theoretical arrival time). */
interface Tats {
  req: number;
  tok: number;
}

export class BucketMirror {
  private rpm: number | undefined;
  private tpm: number | undefined;
  private readonly margin: number;
  private readonly changed: () => void;
  /** The buckets after every sent request. */
  private readonly committed: Tats = { req: Number.NEGATIVE_INFINITY, tok: Number.NEGATIVE_INFINITY };
  /** The buckets after every queued one too: where the next slot goes. */
  private tail: Tats = { ...this.committed };
  /** The newest request whose headers corrected the mirror; older news is ignored. */
  private correctedBy = 0;

  constructor(
    limits: { rpm?: number | undefined; tpm?: number | undefined; margin: number },
    changed: () => void,
  ) {
    this.rpm = limits.rpm;
    this.tpm = limits.tpm;
    this.margin = limits.margin;
    this.changed = changed;
  }

  /** The limits in force (advertised, or assumed), when known. */
  get limitRpm(): number | undefined {
    return this.rpm;
  }

  get limitTpm(): number | undefined {
    return this.tpm;
  }

  /** A token estimate as the bucket counts it: never more than it can ever hold, nonsense as none. */
  cost(tokens: number): number {
    return Number.isFinite(tokens) && tokens > 0 ? Math.min(tokens, this.tokenCapacity()) : 0;
  }

  /** How long `tokens` take to drain from the token bucket, in ms (0 with no token limit). */
  tokenMs(tokens: number): number {
    return this.tpm ? (tokens * MINUTE_MS) / this.tpm : 0;
  }

  /** The earliest start both buckets allow a request of `tokens` after everything queued. */
  earliest(tokens: number): number {
    let start = Number.NEGATIVE_INFINITY;
    if (this.rpm)
      start = Math.max(start, this.tail.req - (this.requestCapacity() - 1) * (MINUTE_MS / this.rpm));
    if (this.tpm) {
      const room = Math.max(0, this.tokenCapacity() - tokens);
      start = Math.max(start, this.tail.tok - (room * MINUTE_MS) / this.tpm);
    }
    return start;
  }

  /** Queues a request at `start`. */
  book(tokens: number, start: number): void {
    add(this.tail, this.rpm, this.tpm, tokens, start);
  }

  /** Counts a request as sent at `start`. */
  commit(tokens: number, start: number): void {
    add(this.committed, this.rpm, this.tpm, tokens, start);
  }

  /** Forgets the queue, to lay it out again from what was sent. */
  restart(): void {
    this.tail = { ...this.committed };
  }

  /** A new limit keeps the bucket's usage: its empty time is rescaled around now. */
  setLimits(at: number, rpm: number | undefined, tpm: number | undefined): void {
    if (rpm !== undefined && rpm !== this.rpm) {
      if (this.rpm) this.committed.req = rescale(this.committed.req, at, this.rpm, rpm);
      this.rpm = rpm;
      this.changed();
    }
    if (tpm !== undefined && tpm !== this.tpm) {
      if (this.tpm) this.committed.tok = rescale(this.committed.tok, at, this.tpm, tpm);
      this.tpm = tpm;
      this.changed();
    }
  }

  /**
   * What the headers say is used, dated by `sent[origin]`, the request they answer: the
   * server's buckets as that request left them, plus everything sent since. Undated (no
   * origin, or older news than the last correction), they can only seed an empty bucket.
   */
  correct(at: number, headroom: RateLimitHeadroom, sent: readonly SentRequest[], origin: number): void {
    const usedRequests = used(this.rpm, headroom.remainingRequests, headroom.resetRequestsMs);
    const usedTokens = used(this.tpm, headroom.remainingTokens, headroom.resetTokensMs);
    if (usedRequests === undefined && usedTokens === undefined) return;
    const dated = origin < 0 ? undefined : sent[origin];
    if (!dated || dated.seq <= this.correctedBy) {
      // Undated news can only seed a bucket we know nothing about, conservatively as of now.
      if (this.rpm && usedRequests !== undefined && this.committed.req === Number.NEGATIVE_INFINITY)
        this.committed.req = at + (usedRequests * MINUTE_MS) / this.rpm;
      if (this.tpm && usedTokens !== undefined && this.committed.tok === Number.NEGATIVE_INFINITY)
        this.committed.tok = at + (usedTokens * MINUTE_MS) / this.tpm;
      this.changed();
      return;
    }
    this.correctedBy = dated.seq;
    const rebuilt: Tats = { ...this.committed };
    if (this.rpm && usedRequests !== undefined)
      rebuilt.req = dated.sentAt + (usedRequests * MINUTE_MS) / this.rpm;
    if (this.tpm && usedTokens !== undefined)
      rebuilt.tok = dated.sentAt + (usedTokens * MINUTE_MS) / this.tpm;
    for (let i = origin + 1; i < sent.length; i++) {
      const later = sent[i]!;
      if (this.rpm && usedRequests !== undefined)
        rebuilt.req = Math.max(rebuilt.req, later.sentAt) + MINUTE_MS / this.rpm;
      if (this.tpm && usedTokens !== undefined)
        rebuilt.tok = Math.max(rebuilt.tok, later.sentAt) + this.tokenMs(later.tokens);
    }
    this.committed.req = rebuilt.req;
    this.committed.tok = rebuilt.tok;
    this.changed();
  }

  private requestCapacity(): number {
    return this.rpm ? capacity(this.rpm, this.margin) : Number.POSITIVE_INFINITY;
  }

  private tokenCapacity(): number {
    return this.tpm ? capacity(this.tpm, this.margin) : Number.POSITIVE_INFINITY;
  }
}

function add(tats: Tats, rpm: number | undefined, tpm: number | undefined, tokens: number, start: number) {
  if (rpm) tats.req = Math.max(tats.req, start) + MINUTE_MS / rpm;
  if (tpm) tats.tok = Math.max(tats.tok, start) + (tokens * MINUTE_MS) / tpm;
}

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

/** An empty time after `at` as it would be had the bucket drained at `to` instead of `from`. */
export function rescale(tat: number, at: number, from: number, to: number): number {
  if (!(tat > at)) return tat;
  return at + ((tat - at) * from) / to;
}
