/**
 * How long a stream read may wait for the server, and what it is waiting under.
 *
 * The SDK's per-attempt `timeout` stops at the response headers, so a server
 * that sends 200 and then nothing would hold a stream forever. retryscope
 * carries the same `timeout` on: the first chunk must arrive within it of the
 * attempt's start, and each later chunk within it of the read that asked for
 * it (so a slow consumer is never blamed on the server). The call's deadline
 * bounds both. Pure: time comes in as arguments.
 */

/** What ends a read that waits too long, as the attempt's timeout error says it. */
export type StreamWaitCause = 'first_chunk' | 'idle' | 'deadline';

export interface StreamWaitInput {
  nowMs: number;
  /** Before the first chunk: when the attempt started; after it: when this read started. */
  sinceMs: number;
  phase: 'first_chunk' | 'idle';
  /** The attempt's timeout, applied afresh to each phase. */
  timeoutMs: number;
  /** When the call's deadline passes; `undefined` = none. */
  deadlineAtMs?: number;
}

export interface StreamWait {
  /** How much longer this read may wait (0 = it is already late). */
  waitMs: number;
  cause: StreamWaitCause;
}

export function streamWait(input: StreamWaitInput): StreamWait {
  const byTimeout = input.sinceMs + input.timeoutMs - input.nowMs;
  const byDeadline = input.deadlineAtMs === undefined ? Infinity : input.deadlineAtMs - input.nowMs;
  if (byDeadline <= byTimeout) return { waitMs: Math.max(0, byDeadline), cause: 'deadline' };
  return { waitMs: Math.max(0, byTimeout), cause: input.phase };
}
