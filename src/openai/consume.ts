/**
 * Reading a successful attempt: its body, or its stream. A stream is handed
 * to the caller as soon as the headers say 200, as the SDK does; its first
 * chunk is read inside the attempt (a failure before it is still retried),
 * the rest relayed, each read bounded as `streamWait` decides.
 */
import OpenAI from 'openai';
import { Stream } from 'openai/core/streaming';
import { inBandFailureOf, isPreludeEvent, MAX_PRELUDE_EVENTS } from '../policy/in-band.ts';
import { type StreamWait, streamWait } from '../policy/stream-timing.ts';
import type { InBandFailure } from '../policy/types.ts';
import type { Call } from './call.ts';
import { InBandAnswer, type LiveAttempt, type Served, type StreamSource } from './call-types.ts';
import { outputMessages, StreamContent } from './content.ts';
import { getAttemptHistory } from './errors.ts';
import { factsFromBody, observeStreamItem } from './extract.ts';

// setTimeout fires at once beyond this (2^31 - 1 ms, about 24.8 days): a longer wait needs no timer.
export const MAX_TIMER_MS = 2_147_483_647;

/** Timeouts that the call's deadline, not the attempt's timeout, caused. */
export const deadlineErrors = new WeakSet<object>();

function streamTimeoutError(limit: StreamWait, deadlineMs: number | undefined): Error {
  const message =
    limit.cause === 'deadline'
      ? `retryscope: the call's deadline of ${deadlineMs} ms passed while waiting for a stream chunk`
      : `retryscope: no stream ${limit.cause === 'first_chunk' ? 'chunk' : 'chunk after the last one'} within the request timeout`;
  const error = new OpenAI.APIConnectionTimeoutError({ message });
  if (limit.cause === 'deadline') deadlineErrors.add(error);
  return error;
}

/**
 * Reads the successful attempt the way the caller wants it, so that a body
 * that fails to arrive or parse still counts against that attempt.
 */
export async function consume(
  call: Call,
  pending: PromiseLike<unknown>,
  response: Response,
  startedAt: number,
  attempt: LiveAttempt,
): Promise<Served> {
  if ((call.box.mode ?? 'parsed') === 'raw') {
    attempt.succeeded();
    call.markAndFinish(response);
    return { response, hasData: false, attempt: pending };
  }
  const data = await pending;
  if (call.isStream && data instanceof Stream)
    return consumeStream(call, data, response, pending, startedAt, attempt);
  Object.assign(call.facts, factsFromBody(data));
  if (call.capture) call.outputContent = outputMessages(data);
  const inBand = inBandFailureOf(data, readsStored(call));
  // A 200 that says it failed goes back to the loop: the policy decides, the caller gets it as is.
  if (inBand) throw new InBandAnswer(inBand, { served: { response, data, hasData: true, attempt: pending } });
  attempt.succeeded();
  call.markServed(data);
  call.markAndFinish(response);
  return { response, data, hasData: true, attempt: pending };
}

/**
 * A stream attempt whose headers said 200. The first attempt to get here hands
 * the caller its stream at once, as the SDK does; then the first chunk is read
 * inside the attempt, so a failure before it throws into the retry loop (and
 * may still fall back) while the caller's iterator waits. Once a chunk is
 * delivered, nothing is retried.
 */
async function consumeStream(
  call: Call,
  stream: Stream<unknown>,
  response: Response,
  pending: PromiseLike<unknown>,
  startedAt: number,
  attempt: LiveAttempt,
): Promise<Served> {
  if (!call.handle) {
    call.handle = createHandle(call);
    call.markServed(call.handle);
    call.markServed(response);
    call.deliver?.({ response, data: call.handle, hasData: true, attempt: pending });
  }
  const iterator = stream[Symbol.asyncIterator]();
  let first: IteratorResult<unknown>;
  /** A Responses stream's opening events (created, in_progress), held until something follows them. */
  const prelude: unknown[] = [];
  try {
    first = await read(call, iterator, stream, startedAt, 'first_chunk');
    if (!first.done) call.facts.timeToFirstChunkMs = call.state.clock.now() - startedAt;
    // The API opens every Responses stream this way: held inside the attempt, a failure that
    // follows them has still reached nobody, and is retried like one that came first.
    while (!first.done && isPreludeEvent(first.value) && prelude.length < MAX_PRELUDE_EVENTS) {
      prelude.push(first.value);
      first = await read(call, iterator, stream, startedAt, 'first_chunk');
    }
  } catch (error) {
    stream.controller.abort();
    throw error;
  }
  // An SDK stream ends quietly when aborted; before any chunk that is the caller's abort, not an empty answer.
  if (first.done && call.signal?.aborted) throw new OpenAI.APIUserAbortError();
  const inBand = first.done ? undefined : inBandFailureOf(first.value, readsStored(call));
  if (inBand) {
    // It failed before anything reached the caller: as retryable as an HTTP error. The event is terminal,
    // and says what the attempt used.
    stream.controller.abort();
    for (const item of [...prelude, first.value]) observeStreamItem(call.facts, item);
    throw new InBandAnswer(inBand, { events: [...prelude, first.value] });
  }
  call.markServed(call.handle);
  call.source!.resolve({ kind: 'live', prelude, first, iterator, stream, attempt });
  return { response, data: call.handle, hasData: true, attempt: pending };
}

/**
 * Only a create (`POST /responses`) makes a new answer; anything else that returns a response
 * (`retrieve`, a background poll, `cancel`) reads a stored one, the same on every read.
 */
function readsStored(call: Call): boolean {
  return call.info.operationName !== 'chat';
}

/** The stream the caller iterates: it waits for the loop to have a first chunk, then relays the rest. */
function createHandle(call: Call): Stream<unknown> {
  return new Stream(
    async function* () {
      let source: StreamSource;
      try {
        source = await call.source!.promise;
      } catch (error) {
        // Aborted before any chunk: the SDK's stream ends quietly on abort, so this one does too.
        if (getAttemptHistory(error)?.outcome === 'aborted') return;
        throw error;
      }
      if (source.kind === 'canned') yield* source.items;
      else yield* relay(call, source);
    },
    call.streamController!,
    call.state.client,
  );
}

/** Relays a live attempt's chunks; the attempt and operation spans end with the stream, however it ends. */
async function* relay(call: Call, source: Extract<StreamSource, { kind: 'live' }>): AsyncGenerator<unknown> {
  const { iterator, stream, attempt } = source;
  let settled = false;
  /** A `response.failed` or `response.incomplete` passed through: the attempt ends with it. */
  let inBand: InBandFailure | undefined;
  const content = call.capture ? new StreamContent() : undefined;
  const settle = (how: 'success' | 'aborted' | { error: unknown }): unknown => {
    if (settled) return how;
    settled = true;
    if (content) call.outputContent = content.result();
    if (how === 'aborted') return attempt.aborted();
    if (how !== 'success') return attempt.failed(how.error);
    if (inBand) return attempt.inBand(inBand);
    attempt.succeeded();
    call.finish(call.served ? 'fallback' : 'success');
    return undefined;
  };
  try {
    for (const item of source.prelude) {
      observeStreamItem(call.facts, item);
      call.spend.saw(item);
      content?.observe(item);
      yield item;
    }
    let next = source.first;
    while (!next.done) {
      observeStreamItem(call.facts, next.value);
      call.spend.saw(next.value);
      content?.observe(next.value);
      inBand ??= inBandFailureOf(next.value, readsStored(call));
      yield next.value;
      next = await read(call, iterator, stream, call.state.clock.now(), 'idle');
    }
    settle(call.signal?.aborted ? 'aborted' : 'success');
  } catch (error) {
    throw settle({ error });
  } finally {
    if (!settled) {
      // The caller stopped early: `break` is a success as far as it went; `controller.abort()` is an abort.
      settle(call.signal?.aborted ? 'aborted' : 'success');
      await iterator.return?.();
    }
  }
}

/**
 * One read from an attempt's stream, bounded as `streamWait` decides: a server
 * that goes quiet gets an `APIConnectionTimeoutError` and its request aborted,
 * never a read that hangs past the attempt's timeout or the call's deadline.
 */
function read(
  call: Call,
  iterator: AsyncIterator<unknown>,
  stream: Stream<unknown>,
  sinceMs: number,
  phase: 'first_chunk' | 'idle',
): Promise<IteratorResult<unknown>> {
  const deadline = call.state.options.deadlineMs;
  const limit = streamWait({
    nowMs: call.state.clock.now(),
    sinceMs,
    phase,
    timeoutMs: call.attemptTimeout(),
    ...(deadline !== undefined ? { deadlineAtMs: call.deadline.atMs } : {}),
  });
  const next = iterator.next();
  if (limit.waitMs > MAX_TIMER_MS) return next;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.controller.abort();
      reject(streamTimeoutError(limit, deadline));
    }, limit.waitMs);
    next.then(
      (result) => {
        clearTimeout(timer);
        resolve(result);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** A degraded answer for a streaming call: the canned value (or values) as a stream. */
export function cannedStream(value: unknown, client: OpenAI): Stream<unknown> {
  const items = Array.isArray(value) ? value : [value];
  return new Stream(
    async function* () {
      yield* items;
    },
    new AbortController(),
    client,
  );
}
