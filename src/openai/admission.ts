/**
 * Waiting for a send slot: the fleet's (Redis) first, then the client's own
 * limiter. A refusal (queue full, past the deadline, quota seen by another
 * process) ends the hop with nothing sent.
 */
import OpenAI from 'openai';
import type { RateLimiter, Slot } from '../policy/limiter.ts';
import { refusalOutcome } from '../policy/verdict.ts';
import type { Call } from './call.ts';
import { HopFailed } from './call-types.ts';
import { clientRateLimitError, QuotaExhaustedError } from './errors.ts';
import type { BucketLimiter } from './pacing.ts';

/**
 * Books a slot with the fleet (one Redis round trip) before the local
 * limiter: fails fast on a quota another process saw exhausted, waits what
 * the fleet's buckets ask. A store that does not answer in time is skipped.
 * Returns how long it waited.
 */
export async function waitForFleet(call: Call, paced: BucketLimiter, tokens: number): Promise<number> {
  if (!paced.fleet) {
    call.storeMode = 'local';
    return 0;
  }
  const { clock } = call.state;
  const now = clock.now();
  const snapshot = paced.limiter.snapshot(now);
  const { mode, admission } = await paced.fleet.fleet.admit(paced.fleet.key, {
    now,
    tokens,
    rpm: snapshot.limitRpm ?? 0,
    tpm: snapshot.limitTpm ?? 0,
    burstMs: paced.limiter.burstMs,
    maxWaitMs: call.deadline.maxQueueMs(now),
  });
  call.storeMode = mode;
  if (mode === 'local-fallback') call.observer.storeFellBack(paced.bucket);
  if (!admission) return 0;
  if (!admission.ok && admission.reason === 'quota') {
    call.quotaFromFleet = true;
    call.observer.refused('quota_exhausted', paced.bucket);
    throw new HopFailed(
      new QuotaExhaustedError(
        429,
        {
          message:
            'retryscope: another process using this API key saw its quota exhausted (insufficient_quota); the call was not sent',
          type: 'insufficient_quota',
          code: 'insufficient_quota',
          param: null,
        },
        undefined,
        new Headers(),
      ),
      'quota_exhausted',
    );
  }
  if (!admission.ok) {
    const outcome = refusalOutcome(admission.reason);
    call.observer.refused(outcome, paced.bucket);
    throw new HopFailed(clientRateLimitError('deadline', admission.waitMs), outcome);
  }
  if (admission.waitMs <= 0) return 0;
  const started = clock.now();
  try {
    await clock.sleep(admission.waitMs, call.signal);
  } catch {
    throw new HopFailed(new OpenAI.APIUserAbortError(), 'aborted');
  }
  // What was slept, not what was planned: a loaded process wakes late.
  const waitedMs = clock.now() - started;
  call.queuedMs += waitedMs;
  return waitedMs;
}

/**
 * Waits in the client-side limiter for a send slot. Refuses at once (nothing
 * sent) when the queue is full or the slot would come after the deadline.
 */
export async function waitForSlot(
  call: Call,
  limiter: RateLimiter,
  tokens: number,
  bucket: string | undefined,
): Promise<{ slot: Slot; waitedMs: number }> {
  const { clock } = call.state;
  const started = clock.now();
  let slot = limiter.reserve(started, tokens, call.deadline.lastSlotAtMs);
  if (!slot.ok) {
    const outcome = refusalOutcome(slot.reason);
    call.observer.refused(outcome, bucket);
    throw new HopFailed(clientRateLimitError(slot.reason, slot.waitMs), outcome);
  }
  const held = slot.slot;
  while (slot.ok && slot.waitMs > 0) {
    try {
      await clock.sleep(slot.sleepMs, call.signal);
    } catch {
      limiter.release(clock.now(), held);
      throw new HopFailed(new OpenAI.APIUserAbortError(), 'aborted');
    }
    slot = limiter.confirm(clock.now(), held);
  }
  if (!slot.ok) {
    call.observer.refused('deadline_exceeded', bucket);
    throw new HopFailed(clientRateLimitError('deadline', slot.waitMs), 'deadline_exceeded');
  }
  const waitedMs = clock.now() - started;
  call.queuedMs += waitedMs;
  return { slot: held, waitedMs };
}
