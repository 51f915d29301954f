/**
 * The chaos matrix: every fault the simulator can inject, crossed with
 * {non-streaming, streaming} and {chat, responses, embeddings}. In every cell:
 * no unhandled rejection, no span left open, the right error class for the
 * caller, as many attempt spans as requests the server received, and metric
 * totals equal to span counts.
 */
import type { Context } from '@opentelemetry/api';
import { type ReadableSpan, type Span, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { instrument, QuotaExhaustedError } from '../../src/index.ts';
import { FAULT_KINDS, type FaultSpec, startSimulator } from '../../src/simulator/index.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry, sumWhere } from '../helpers/otel.ts';

type Api = 'chat' | 'responses' | 'embeddings';
type Fault = (typeof FAULT_KINDS)[number] | 'quota' | 'rate_limit';
const FAULTS: Fault[] = [...FAULT_KINDS, 'quota', 'rate_limit'];
const CELLS: [Fault, Api, boolean][] = FAULTS.flatMap((fault) =>
  (['chat', 'responses', 'embeddings'] as Api[]).flatMap((api) =>
    (api === 'embeddings' ? [false] : [false, true]).map(
      (stream) => [fault, api, stream] as [Fault, Api, boolean],
    ),
  ),
);

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
beforeAll(() => void process.on('unhandledRejection', onUnhandled));
afterAll(() => void process.off('unhandledRejection', onUnhandled));

/** Tracks spans started and not yet ended. */
class OpenSpans implements SpanProcessor {
  readonly open = new Set<string>();
  onStart(span: Span, _parent: Context): void {
    this.open.add(span.spanContext().spanId);
  }
  onEnd(span: ReadableSpan): void {
    this.open.delete(span.spanContext().spanId);
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/** What the caller must get: `undefined` means success. Every request of the cell meets the fault. */
function expected(fault: Fault, stream: boolean, api: Api): { error?: unknown; requests: number } {
  switch (fault) {
    case '500':
    case '502':
    case '503':
      return { error: OpenAI.InternalServerError, requests: 2 };
    case 'reset':
      return { error: OpenAI.APIConnectionError, requests: 2 };
    case 'hang':
      return { error: OpenAI.APIConnectionTimeoutError, requests: 2 };
    case 'slow':
      return { requests: 1 };
    case 'malformed':
      // A stream breaks after good chunks were delivered: not retried. A whole body that does not parse is,
      // and so is a Responses stream broken after only its opening events (created, in_progress), which the
      // attempt holds: nothing had reached the caller.
      return { error: SyntaxError, requests: stream && api !== 'responses' ? 1 : 2 };
    case 'stream_error':
      // After a delivered chunk nothing is retried; a non-streaming call is not affected.
      return stream ? { error: OpenAI.APIError, requests: 1 } : { requests: 1 };
    case '401':
      return { error: OpenAI.AuthenticationError, requests: 1 };
    case '400':
      return { error: OpenAI.BadRequestError, requests: 1 };
    case 'too_large':
      return { error: OpenAI.RateLimitError, requests: 1 };
    case '429':
      // retry-after-ms 20 each time: retried on the server's hint until attempts run out.
      return { error: OpenAI.RateLimitError, requests: 2 };
    case 'quota':
      return { error: QuotaExhaustedError, requests: 1 };
    case 'rate_limit':
      return { error: OpenAI.RateLimitError, requests: 2 };
    case 'response_failed':
      // A failed response (server_error) before any output is retried; the caller gets the last one, no error.
      return { requests: api === 'responses' ? 2 : 1 };
    case 'response_incomplete':
      // Incomplete is an answer, not retried; only Responses results have a status.
      return { requests: 1 };
  }
}

async function call(openai: OpenAI, api: Api, stream: boolean): Promise<unknown> {
  try {
    if (api === 'embeddings') {
      await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
    } else if (api === 'chat') {
      const r = await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hello' }],
        max_tokens: 20,
        ...(stream ? { stream: true as const } : {}),
      });
      if (stream)
        for await (const _ of r as AsyncIterable<unknown>) {
        }
    } else {
      const r = await openai.responses.create({
        model: 'gpt-4o-mini',
        input: 'hello',
        max_output_tokens: 20,
        ...(stream ? { stream: true as const } : {}),
      });
      if (stream)
        for await (const _ of r as AsyncIterable<unknown>) {
        }
    }
    return undefined;
  } catch (error) {
    return error;
  }
}

function faultSpec(fault: Fault): FaultSpec | undefined {
  if (fault === 'quota' || fault === 'rate_limit') return undefined;
  return {
    kind: fault,
    every: 1,
    ...(fault === 'slow' ? { delayMs: 30 } : {}),
    ...(fault === 'stream_error' ? { afterChunks: 1 } : {}),
  };
}

describe.each(CELLS)('fault %s × %s × stream=%s', (fault, api, stream) => {
  test('holds every invariant', async () => {
    const spec = faultSpec(fault);
    const sim = await startSimulator({
      scenario: { name: 'chaos', phases: [{ name: 'chaos', ...(spec ? { faults: [spec] } : {}) }] },
      seed: 1,
      ...(fault === 'quota' ? { quotaTokens: 0 } : {}),
      ...(fault === 'rate_limit' ? { limits: { rpm: 1, tpm: 1_000_000 } } : {}),
      ...(fault === 'too_large' ? { limits: { rpm: 1000, tpm: 10 } } : {}),
    });
    try {
      if (fault === 'rate_limit') {
        // Spend the one request per minute, so the instrumented call meets 429s.
        await new OpenAI({ baseURL: sim.url, apiKey: 'sk-sim', maxRetries: 0 }).chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'warm-up' }],
        });
        sim.resetStats();
      }
      const t = createTestTelemetry();
      const open = new OpenSpans();
      const ended: ReadableSpan[] = [];
      const tracerProvider = new TracerProvider({
        spanProcessors: [
          open,
          {
            onStart() {},
            onEnd: (s: ReadableSpan) => void ended.push(s),
            forceFlush: async () => {},
            shutdown: async () => {},
          },
        ],
      });
      const openai = instrument(
        // Only a hang should meet the timeout: elsewhere a loaded machine must not turn a slow answer
        // into a timeout and an extra attempt.
        new OpenAI({
          baseURL: sim.url,
          apiKey: 'sk-sim',
          timeout: fault === 'hang' ? 400 : 60_000,
          logLevel: 'off',
        }),
        {
          tracerProvider,
          meterProvider: t.meterProvider,
          maxAttempts: 2,
          maxRetryAfterMs: 3_600_000,
          clock: fakeClock().clock,
        },
      );
      const error = await call(openai, api, stream);
      await new Promise((r) => setImmediate(r));

      const want = expected(fault, stream, api);
      if (want.error) expect(error).toBeInstanceOf(want.error);
      else expect(error).toBeUndefined();
      expect(unhandled).toEqual([]);
      expect(open.open.size).toBe(0);

      const ops = ended.filter((s) => s.attributes['retryscope.outcome'] !== undefined);
      const attempts = ended.filter((s) => s.attributes['retryscope.attempt'] !== undefined);
      expect(ops).toHaveLength(1);
      expect(attempts).toHaveLength(sim.stats().requests);
      expect(attempts).toHaveLength(want.requests);
      expect(sumWhere(await t.metric('retryscope.client.attempts'))).toBe(attempts.length);
      expect(sumWhere(await t.metric('gen_ai.client.operation.duration'))).toBe(ops.length);
      const quotaSpans = attempts.filter((s) => s.attributes['retryscope.quota_exhausted'] === true).length;
      expect(sumWhere(await t.metric('retryscope.client.quota_exhausted'))).toBe(quotaSpans);
    } finally {
      await sim.close();
    }
  });
});
