/**
 * The attempt loop of one hop: ask the breaker, the fleet and the limiter for
 * a slot, send, report the facts to the call's observer, ask the policy for a
 * verdict on a failure and act on it (sleep, or stop). It never decides.
 */
import OpenAI from 'openai';
import type { AttemptEnded } from '../observer.ts';
import { afterBlindBooking } from '../policy/blind-sends.ts';
import type { CircuitBreaker } from '../policy/circuit-breaker.ts';
import { classify } from '../policy/classify.ts';
import type { RateLimiter } from '../policy/limiter.ts';
import { parseRateLimitHeaders } from '../policy/ratelimit-headers.ts';
import type { BackoffSource, ErrorCategory } from '../policy/types.ts';
import {
  afterFailure,
  afterStreamFailure,
  creditWait,
  fleetPauseMs,
  type RetryWait,
  throttlesBucket,
} from '../policy/verdict.ts';
import { redactUrl } from '../redact.ts';
import { limitKnown, waitForFleet, waitForSlot } from './admission.ts';
import { checkBudgets } from './budgets.ts';
import type { Call } from './call.ts';
import { type Hop, HopFailed, InBandAnswer, type Served } from './call-types.ts';
import { consume, deadlineErrors } from './consume.ts';
import { CircuitOpenError } from './errors.ts';
import { errorTypeOf, pickHeaders } from './extract.ts';
import { estimateRequestTokens } from './pacing.ts';
import { failureOf } from './transport.ts';

/** Attempts on one hop until one succeeds or the policy stops. */
export async function runHop(call: Call, hop: Hop): Promise<Served> {
  const { clock, options, pacing } = call.state;
  const model = hop.model ?? call.info.model;
  // The bucket of the model asked: its headers describe that model's limit, not the client's.
  const paced = pacing.limiter(hop.client, model);
  const limiter = paced?.limiter;
  const bucket = paced?.bucket;
  const breaker = pacing.breaker(hop.client, model);
  const tokens = limiter ? estimateRequestTokens(call.options.body) : 0;
  // A spent budget refuses the primary before anything is sent; fallbacks are sent (and charged).
  if (hop.index === 0) await checkBudgets(call);
  let backoffMs = 0;
  let source: BackoffSource = 'none';
  let previousDelayMs: number | undefined;
  let retriedFor: ErrorCategory | undefined;
  /** The failed attempt this one retries: when it ended, and who chose the wait. */
  let retry: RetryWait | undefined;
  for (let attempt = 1; ; attempt++) {
    // Aborted before it could be sent: no request, so no attempt span.
    if (call.signal?.aborted) throw new HopFailed(new OpenAI.APIUserAbortError(), 'aborted');
    if (breaker && !breaker.allow(clock.now())) {
      call.observer.refused('circuit_open');
      const where = `${redactUrl(hop.client.baseURL)}${model ? ` (${model})` : ''}`;
      throw new HopFailed(
        new CircuitOpenError({
          message: `retryscope: the circuit for ${where} is open after repeated failures; the call was not sent`,
        }),
        'circuit_open',
      );
    }
    const fleetFirst = paced ? await waitForFleet(call, paced, tokens) : undefined;
    const queued = limiter ? await waitForSlot(call, limiter, tokens, bucket) : undefined;
    let fleetWaitedMs = fleetFirst?.waitedMs ?? 0;
    // Booked while the bucket was cold, the fleet paced nothing. If the cold-start hold has since
    // learned the limit, book again (cold start only); a probe, sent still blind, is charged later.
    if (paced?.fleet && fleetFirst?.unpaced) {
      if (afterBlindBooking(limitKnown(paced, clock.now())) === 'book-again')
        fleetWaitedMs += (await waitForFleet(call, paced, tokens)).waitedMs;
      else paced.fleet.fleet.sentBlind(paced.fleet.key, clock.now());
    }
    const attemptStarted = clock.now();
    if (retry) {
      // The fleet's pause and the local queue are both the limiter holding the retry.
      const held = queued || fleetWaitedMs > 0 ? fleetWaitedMs + (queued?.waitedMs ?? 0) : undefined;
      ({ ms: backoffMs, source } = creditWait(retry, attemptStarted, held));
      call.backoffTotalMs += backoffMs;
      call.observer.waited({ ms: backoffMs, source, reason: retry.reason, model: hop.model });
    }
    call.spend.attemptStarted(call.facts);
    const attemptRecord = call.observer.attemptStarted({
      attempt,
      backoffMs,
      backoffSource: source,
      ...(hop.model ? { requestModel: hop.model } : {}),
      fallbackIndex: hop.index,
    });
    // Every end carries what the attempt spent, read from the facts its answer left.
    const record = {
      run: attemptRecord.run.bind(attemptRecord),
      ended: (fact: AttemptEnded) =>
        attemptRecord.ended({
          ...fact,
          ...call.spend.attemptEnded(call.facts, model, fact.outcome === 'success'),
        }),
    };
    const summary = (status?: number, headers: Record<string, string> = {}) =>
      call.history.add({
        attempt,
        fallbackIndex: hop.index,
        model: hop.model,
        status,
        headers,
        backoffMs,
        backoffSource: source,
        durationMs: clock.now() - attemptStarted,
      });
    // Every attempt's end feeds the limiter, without headers too: the first ends its cold start
    // (a server that sends none, or cannot be reached, has nothing more to tell by waiting).
    const feedback = (headers: Record<string, string>) => {
      const headroom = parseRateLimitHeaders(headers);
      limiter?.observe(clock.now(), headroom, queued?.slot);
      paced?.fleet?.fleet.saw(paced.fleet.key, {
        atMs: clock.now(),
        requests: headroom.remainingRequests,
        tokens: headroom.remainingTokens,
      });
      return headroom;
    };
    let status: number | undefined;
    let headers: Record<string, string> = {};
    try {
      const pending = record.run(() => hop.send(call.attemptOptions(attempt, hop)));
      // A key from an `apiKey` function is known only once the SDK has resolved it for this send.
      const response = await pending
        .asResponse()
        .finally(() => call.state.telemetry.protect(hop.client.apiKey));
      status = response.status;
      headers = pickHeaders(response.headers);
      const ok = {
        status,
        ...(headers['x-request-id'] ? { requestId: headers['x-request-id'] } : {}),
        headroom: feedback(headers),
      };
      return await consume(call, pending, response, attemptStarted, {
        succeeded: () => {
          const now = clock.now();
          limiter?.onSuccess(now);
          breaker?.onSuccess(now);
          pacing.budget?.onSuccess(retriedFor);
          record.ended({ outcome: 'success', ...ok });
          summary(status, headers);
          recordPacing(call, limiter, breaker, model, bucket);
        },
        failed: (error: unknown) => {
          // An error inside a stream after chunks were delivered ends this attempt, never retried.
          const { classification, outcome } = afterStreamFailure(
            failureOf(error, true),
            deadlineErrors.has(error as object),
          );
          record.ended({ outcome: 'failed', ...ok, errorType: errorTypeOf(error), classification });
          summary(status, headers).fail(error, classification);
          return call.fail(error, outcome);
        },
        aborted: () => {
          const error = new OpenAI.APIUserAbortError();
          const classification = classify({ transport: 'aborted' });
          record.ended({ outcome: 'failed', ...ok, errorType: errorTypeOf(error), classification });
          summary(status, headers).fail(error, classification);
          call.finish('aborted', errorTypeOf(error));
        },
        inBand: (inBand) => {
          // Passed through to the caller's stream: it ends the attempt and the call, nothing to retry.
          const { classification, outcome } = afterStreamFailure({ inBand, afterFirstChunk: true }, false);
          const answer = new InBandAnswer(inBand, { events: [] });
          record.ended({ outcome: 'failed', ...ok, errorType: answer.errorType, classification });
          summary(status, headers).fail(answer, classification);
          breaker?.onFailure(clock.now(), classification.category);
          recordPacing(call, limiter, breaker, model, bucket);
          call.finish(outcome, answer.errorType);
        },
      });
    } catch (error) {
      if (error instanceof HopFailed) throw error;
      const failure = error instanceof InBandAnswer ? { inBand: error.failure } : failureOf(error);
      const classification = classify(failure);
      const now = clock.now();
      const verdict = afterFailure(
        {
          failure,
          classification,
          attempt,
          previousDelayMs,
          cutByDeadline: deadlineErrors.has(error as object),
        },
        {
          nowMs: now,
          random: call.state.random,
          deadline: call.deadline,
          maxAttempts: call.maxAttempts,
          policy: options,
          budget: pacing.budget,
        },
      );
      if (!verdict.retry && verdict.budgetExhausted) call.budgetExhausted = true;
      const failedHeaders = failure.headers ?? headers;
      const failedStatus = failure.status ?? status;
      const headroom = feedback(failedHeaders);
      if (throttlesBucket(classification)) {
        const kind = limiter?.onThrottle(now, verdict.holdMs, queued?.slot, {
          code: classification.code,
          headroom,
        });
        const pauseMs = fleetPauseMs(kind, verdict.holdMs);
        if (pauseMs !== undefined && paced?.fleet)
          paced.fleet.fleet.pause(paced.fleet.key, now, now + pauseMs);
      }
      if (classification.quotaExhausted && paced?.fleet)
        paced.fleet.fleet.exhaust(paced.fleet.key, now, now + paced.fleet.quotaCooldownMs);
      breaker?.onFailure(now, classification.category);
      record.ended({
        outcome: verdict.retry ? 'retried' : 'failed',
        ...(failedStatus !== undefined ? { status: failedStatus } : {}),
        errorType: errorTypeOf(error),
        classification,
        ...(failedHeaders['x-request-id'] ? { requestId: failedHeaders['x-request-id'] } : {}),
        headroom,
        ...(verdict.retryAfterMs !== undefined ? { retryAfterMs: verdict.retryAfterMs } : {}),
      });
      summary(failedStatus, failedHeaders).fail(error, classification);
      recordPacing(call, limiter, breaker, model, bucket);
      if (!verdict.retry) throw new HopFailed(error, verdict.outcome);

      // The policy's wait is slept in full, the server's hint included, even with the limiter on:
      // its pause may end sooner (another caller's success), and a hint is a floor. The limiter
      // then holds the retry only for what it needs beyond that.
      try {
        if (verdict.delayMs > 0) {
          await clock.sleep(verdict.delayMs, call.signal);
          // A timer may fire a millisecond early by the wall clock; a server's wait is a floor.
          const short = now + verdict.delayMs - clock.now();
          if (short > 0 && short < verdict.delayMs) await clock.sleep(short, call.signal);
        }
      } catch {
        throw new HopFailed(new OpenAI.APIUserAbortError(), 'aborted');
      }
      retry = {
        failedAtMs: now,
        delayMs: verdict.delayMs,
        source: verdict.source,
        reason: classification.category,
      };
      previousDelayMs = verdict.delayMs;
      retriedFor = classification.category;
    }
  }
}

/** Reads the limiter, budget and breaker after an attempt: gauges now, span attributes at the end. */
function recordPacing(
  call: Call,
  limiter: RateLimiter | undefined,
  breaker: CircuitBreaker | undefined,
  model?: string,
  bucket?: string,
): void {
  const now = call.state.clock.now();
  const snapshot = limiter?.snapshot(now);
  call.observer.paced({
    model,
    bucket,
    queueDepth: snapshot?.queueDepth,
    ratePerSec: snapshot?.ratePerSec,
    budgetRemaining: call.state.pacing.budget?.remaining(),
    circuit: breaker?.state(now),
  });
}
