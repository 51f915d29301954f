import OpenAI from 'openai';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { instrument } from '../../src/index.ts';
import { createTestTelemetry } from '../helpers/otel.ts';
import { chatCompletion, type Reply, rateLimited, ScriptedServer } from '../helpers/scripted-server.ts';

let server: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());

test('1,000 concurrent calls through one client: every attempt in its own trace, context from the caller, aborts isolated', async () => {
  const t = createTestTelemetry();
  // Every third call is rate limited on its first attempt, so many retry while others are in flight.
  server.replyWith((request): Reply => {
    const text = (request.body as { messages: { content: string }[] }).messages[0]!.content;
    const firstTry = request.headers['x-stainless-retry-count'] === '0';
    return firstTry && Number(text.split(' ')[1]) % 3 === 0 ? rateLimited(1) : { json: chatCompletion() };
  });
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test', maxRetries: 0 }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    maxAttempts: 6,
    // Tracing under concurrency, not pacing: the limiter would queue these calls behind the 429s.
    limiter: false,
  });
  const tracer = t.tracerProvider.getTracer('app');
  const aborted = new AbortController();
  const callerSpans = new Map<string, string>(); // caller span id → trace id
  const results = await Promise.allSettled(
    Array.from({ length: 1000 }, (_, i) =>
      tracer.startActiveSpan(`request ${i}`, async (span) => {
        callerSpans.set(span.spanContext().spanId, span.spanContext().traceId);
        try {
          const signal = i === 500 ? aborted.signal : undefined;
          const promise = openai.chat.completions.create(
            { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `call ${i}` }] },
            signal ? { signal } : {},
          );
          if (i === 500) aborted.abort();
          return await promise;
        } finally {
          span.end();
        }
      }),
    ),
  );
  const rejected = results.flatMap((r, i) => (r.status === 'rejected' ? [[i, r.reason]] : []));
  expect(rejected).toHaveLength(1);
  expect(rejected[0]![0]).toBe(500);
  expect(rejected[0]![1]).toBeInstanceOf(OpenAI.APIUserAbortError);

  const spans = await t.spans();
  const ops = spans.filter((s) => s.attributes['retryscope.outcome'] !== undefined);
  const attempts = spans.filter((s) => s.attributes['retryscope.attempt'] !== undefined);
  expect(ops).toHaveLength(1000);
  // Every attempt the server answered is one request it saw. On a loaded machine a few of 1,000
  // simultaneous connects are reset before the server reads them: those attempts (connection
  // errors, retried) have no status and no request on the server's side.
  const answered = attempts.filter((a) => a.attributes['http.response.status_code'] !== undefined);
  expect(answered.length).toBe(server.received.length);
  for (const a of attempts.filter((s) => !answered.includes(s)))
    expect(a.attributes['retryscope.retry_reason']).toBe('connection_error');
  // 334 calls retried once (the aborted one never reached the server).
  expect(attempts.length).toBeGreaterThanOrEqual(1333);
  const opById = new Map(ops.map((o) => [o.spanContext().spanId, o]));
  for (const op of ops) {
    // Context propagates from the caller's active span.
    const callerTrace = callerSpans.get(op.parentSpanContext!.spanId);
    expect(callerTrace).toBe(op.spanContext().traceId);
  }
  for (const a of attempts) {
    const op = opById.get(a.parentSpanContext!.spanId)!;
    expect(op).toBeDefined();
    expect(a.spanContext().traceId).toBe(op.spanContext().traceId);
  }
  // No cross-talk: each operation's attempts number 1..n with no gap or duplicate.
  const numbers = new Map<string, number[]>();
  for (const a of attempts) {
    const list = numbers.get(a.parentSpanContext!.spanId) ?? [];
    list.push(Number(a.attributes['retryscope.attempt']));
    numbers.set(a.parentSpanContext!.spanId, list);
  }
  for (const [opId, list] of numbers) {
    list.sort((x, y) => x - y);
    expect(list).toEqual(list.map((_, i) => i + 1));
    expect(opById.get(opId)!.attributes['retryscope.attempts']).toBe(list.length);
  }
  expect(ops.filter((o) => o.attributes['retryscope.outcome'] === 'aborted')).toHaveLength(1);
});
