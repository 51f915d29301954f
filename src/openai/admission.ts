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
 * Returns how long it waited, and whether the booking paced nothing because
 * the bucket's limit was not known yet.
 */
export async function waitForFleet(
  call: Call,
  paced: BucketLimiter,
  tokens: number,
): Promise<{ waitedMs: number; unpaced: boolean }> {
  if (!paced.fleet) {
    call.storeMode = 'local';
    return { waitedMs: 0, unpaced: false };
  }
  const { clock } = call.state;
  const now = clock.now();
  const { limitRpm, limitTpm } = paced.limiter.snapshot(now);
  const rpm = limitRpm ?? 0;
  const tpm = limitTpm ?? 0;
  const { mode, admission } = await paced.fleet.fleet.admit(paced.fleet.key, {
    now,
    tokens,
    rpm,
    tpm,
    burstMs: paced.limiter.burstMs,
    maxWaitMs: call.deadline.maxQueueMs(now),
  });
  call.storeMode = mode;
  if (mode === 'local-fallback') call.observer.storeFellBack(paced.bucket);
  // No limit known yet (a cold bucket): the booking checked quota and pause but paced nothing.
  const unpaced = rpm === 0 && tpm === 0;
  if (!admission) return { waitedMs: 0, unpaced: false };
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
  if (admission.waitMs <= 0) return { waitedMs: 0, unpaced };
  const started = clock.now();
  try {
    await clock.sleep(admission.waitMs, call.signal);
  } catch {
    throw new HopFailed(new OpenAI.APIUserAbortError(), 'aborted');
  }
  // What was slept, not what was planned: a loaded process wakes late.
  const waitedMs = clock.now() - started;
  call.queuedMs += waitedMs;
  return { waitedMs, unpaced };
}

/** Whether the bucket's limit is known (from its headers or `initialRpm`/`initialTpm`), so the fleet can pace it. */
export function limitKnown(paced: BucketLimiter, now: number): boolean {
  const { limitRpm, limitTpm } = paced.limiter.snapshot(now);
  return (limitRpm ?? 0) > 0 || (limitTpm ?? 0) > 0;
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
