/**
 * The whole SDK surface still works through an instrumented client, and the
 * telemetry contract holds for each: span tree, attributes, metrics, streams,
 * context, secrets, and best-effort telemetry.
 */
import { context, trace } from '@opentelemetry/api';
import OpenAI, { AzureOpenAI } from 'openai';
import { APIPromise } from 'openai/core/api-promise';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  getAttemptHistory,
  instrument,
  QuotaExhaustedError,
  RetryscopeConfigError,
  type RetryscopeOptions,
  withRetryOptions,
} from '../../src/index.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry, sumWhere } from '../helpers/otel.ts';
import {
  apiError,
  chatCompletion,
  type Reply,
  rateLimited,
  ScriptedServer,
} from '../helpers/scripted-server.ts';

let server: ScriptedServer;
const t = createTestTelemetry();
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());
beforeEach(() => t.reset());

const SECRET = 'sk-live-THIS-MUST-NEVER-LEAK-1234';
const messages = [{ role: 'user' as const, content: 'What is the capital of France?' }];
const ok: Reply = { json: chatCompletion('Paris.') };

function client(options: RetryscopeOptions = {}) {
  return instrument(new OpenAI({ baseURL: server.url, apiKey: SECRET }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock().clock,
    ...options,
  });
}

const chunk = (content: string | null, extra: object = {}) => ({
  id: 'chatcmpl-s',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o-mini-2024-07-18',
  choices: content === null ? [] : [{ index: 0, delta: { content }, finish_reason: null }],
  ...extra,
});

async function spansByKind() {
  const spans = await t.spans();
  return {
    ops: spans.filter((s) => s.attributes['retryscope.outcome'] !== undefined),
    attempts: spans.filter((s) => s.attributes['retryscope.attempt'] !== undefined),
  };
}

describe('span tree and contract', () => {
  test('one operation span named "{operation} {model}", attempts as CLIENT children in order', async () => {
    server.reply(rateLimited(1), apiError(503, null, 'server_error', 'x'), ok);
    const openai = client();
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    const { ops, attempts } = await spansByKind();
    expect(ops).toHaveLength(1);
    const op = ops[0]!;
    expect(op.name).toBe('chat gpt-4o-mini');
    expect(op.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini',
      'gen_ai.usage.input_tokens': 7,
      'gen_ai.usage.output_tokens': 3,
      'server.address': '127.0.0.1',
      'retryscope.attempts': 3,
      'retryscope.outcome': 'success',
    });
    expect(op.attributes['server.port']).toBe(Number(new URL(server.url).port));
    expect(attempts).toHaveLength(3);
    for (const a of attempts) {
      expect(a.parentSpanContext?.spanId).toBe(op.spanContext().spanId);
      expect(a.spanContext().traceId).toBe(op.spanContext().traceId);
      expect(a.kind).toBe(2); // CLIENT
    }
    const ordered = [...attempts].sort(
      (a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1],
    );
    expect(ordered.map((a) => a.attributes['retryscope.attempt'])).toEqual([1, 2, 3]);
    expect(ordered.map((a) => a.attributes['error.type'])).toEqual([
      'RateLimitError',
      'InternalServerError',
      undefined,
    ]);
    expect(ordered[0]!.attributes['http.request.resend_count']).toBeUndefined();
    expect(ordered[2]!.attributes['http.request.resend_count']).toBe(2);
    expect(ordered[0]!.attributes).toMatchObject({
      'retryscope.ratelimit.limit_requests': 60_000,
      'retryscope.ratelimit.remaining_requests': 0,
      'retryscope.ratelimit.reset_requests_ms': 1,
      'retryscope.ratelimit.reset_tokens_ms': 6,
      'retryscope.request_id': 'req_1',
      'retryscope.error.code': 'rate_limit_exceeded',
    });
  });

  test('the operation span is a child of the caller’s active span', async () => {
    server.reply(ok);
    const openai = client();
    let parentId = '';
    await t.withSpan('handler', async () => {
      parentId = trace.getSpan(context.active())!.spanContext().spanId;
      await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    });
    const { ops } = await spansByKind();
    expect(ops[0]!.parentSpanContext?.spanId).toBe(parentId);
  });

  test('metrics agree with spans: attempts, backoff, quota, durations, tokens, headroom', async () => {
    // Fresh providers: cumulative metrics must count this test's calls only.
    const t = createTestTelemetry();
    const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: SECRET }), {
      tracerProvider: t.tracerProvider,
      meterProvider: t.meterProvider,
      clock: fakeClock().clock,
    });
    const spansByKind = async () => {
      const spans = await t.spans();
      return {
        ops: spans.filter((s) => s.attributes['retryscope.outcome'] !== undefined),
        attempts: spans.filter((s) => s.attributes['retryscope.attempt'] !== undefined),
      };
    };
    server.reply(rateLimited(7), ok);
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    server.reply(
      apiError(429, 'insufficient_quota', 'insufficient_quota', 'You exceeded your current quota'),
    );
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages }).catch(() => {});
    const { attempts, ops } = await spansByKind();
    expect(sumWhere(await t.metric('retryscope.client.attempts'))).toBe(attempts.length);
    expect(
      sumWhere(await t.metric('retryscope.client.attempts'), { 'retryscope.attempt.outcome': 'retried' }),
    ).toBe(1);
    expect(sumWhere(await t.metric('retryscope.client.attempts'), { 'error.type': 'RateLimitError' })).toBe(
      2,
    );
    expect(sumWhere(await t.metric('gen_ai.client.operation.duration'))).toBe(ops.length);
    expect(
      sumWhere(await t.metric('gen_ai.client.operation.duration'), {
        'retryscope.outcome': 'quota_exhausted',
      }),
    ).toBe(1);
    expect(sumWhere(await t.metric('retryscope.client.quota_exhausted'))).toBe(1);
    const backoff = await t.metric('retryscope.client.backoff.duration');
    // One wait, for the one retry; with the limiter on it may be credited to the limiter (see waits.test.ts).
    expect(sumWhere(backoff, { 'retryscope.retry_reason': 'rate_limited' })).toBe(1);
    expect(sumWhere(await t.metric('gen_ai.client.token.usage'), { 'gen_ai.token.type': 'input' })).toBe(1);
    const remaining = await t.metric('retryscope.client.ratelimit.remaining_requests');
    expect(remaining.length).toBeGreaterThan(0);
  });
});

describe('streams', () => {
  test('a stream is one operation; usage from the final chunk; the attempt ends when the stream does', async () => {
    server.reply({
      sse: [
        chunk('Pa'),
        chunk('ris'),
        chunk(null, { usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } }),
      ],
    });
    const openai = client();
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe('Paris');
    const { ops, attempts } = await spansByKind();
    expect(attempts).toHaveLength(1);
    expect(ops[0]!.attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'retryscope.outcome': 'success',
      'gen_ai.usage.input_tokens': 9,
      'gen_ai.usage.output_tokens': 2,
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
    });
  });

  test('a failure before the first chunk is retried like any other', async () => {
    server.reply(apiError(500, null, 'server_error', 'x'), { sse: [chunk('ok')] });
    const openai = client();
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
    const items = [];
    for await (const c of stream) items.push(c);
    expect(items).toHaveLength(1);
    expect(server.received).toHaveLength(2);
    expect((await spansByKind()).attempts).toHaveLength(2);
  });

  test('an error event before any chunk is retried too: nothing had been delivered', async () => {
    server.reply(
      { sse: [{ error: { message: 'overloaded', type: 'server_error', code: 'server_error' } }] },
      { sse: [chunk('ok')] },
    );
    const openai = client();
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
    for await (const _ of stream) {
    }
    expect(server.received).toHaveLength(2);
  });

  test('quota exhausted mid-stream ends the attempt with that error, reaches the caller, and is not retried', async () => {
    server.reply(
      {
        sse: [
          chunk('Pa'),
          {
            error: {
              message: 'You exceeded your current quota',
              type: 'insufficient_quota',
              code: 'insufficient_quota',
            },
          },
        ],
      },
      { sse: [chunk('never')] },
    );
    const openai = client();
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
    const seen: string[] = [];
    const error = await (async () => {
      try {
        for await (const c of stream) seen.push(c.choices[0]?.delta.content ?? '');
      } catch (e) {
        return e;
      }
    })();
    expect(seen).toEqual(['Pa']);
    expect(error).toBeInstanceOf(QuotaExhaustedError);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(getAttemptHistory(error)!.outcome).toBe('quota_exhausted');
    expect(server.received).toHaveLength(1);
    const { ops, attempts } = await spansByKind();
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.attributes['retryscope.quota_exhausted']).toBe(true);
    expect(attempts[0]!.status.code).toBe(2);
    expect(ops[0]!.attributes['retryscope.outcome']).toBe('quota_exhausted');
  });

  test('breaking out of a stream early ends every span', async () => {
    server.reply({ sse: [chunk('a'), chunk('b'), chunk('c')] });
    const openai = client();
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
    for await (const _ of stream) break;
    const { ops, attempts } = await spansByKind();
    expect(ops).toHaveLength(1);
    expect(attempts).toHaveLength(1);
  });

  test('the chat.completions.stream() helper goes through the policy too', async () => {
    const first = {
      ...chunk('hel'),
      choices: [{ index: 0, delta: { role: 'assistant', content: 'hel' }, finish_reason: null }],
    };
    const last = { ...chunk('lo'), choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: 'stop' }] };
    server.reply(rateLimited(1), { sse: [first, last] });
    const openai = client();
    const runner = openai.chat.completions.stream({ model: 'gpt-4o-mini', messages });
    const done = await runner.finalContent();
    expect(done).toBe('hello');
    expect(server.received).toHaveLength(2);
  });
});

describe('beyond chat', () => {
  test('Responses (plain and streaming) and Embeddings get the right operation names', async () => {
    const openai = client();
    server.reply({
      json: {
        id: 'resp_1',
        object: 'response',
        created_at: 1,
        status: 'completed',
        model: 'gpt-4o-mini',
        output: [
          {
            type: 'message',
            id: 'm',
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'output_text', text: 'hi', annotations: [] }],
          },
        ],
        usage: { input_tokens: 4, output_tokens: 1, total_tokens: 5 },
      },
    });
    const r = await openai.responses.create({ model: 'gpt-4o-mini', input: 'hi' });
    expect(r.output_text).toBe('hi');
    server.reply({
      sse: [
        {
          type: 'response.created',
          sequence_number: 0,
          response: { id: 'resp_2', model: 'gpt-4o-mini', status: 'in_progress', output: [] },
        },
        {
          type: 'response.output_text.delta',
          sequence_number: 1,
          delta: 'yo',
          item_id: 'm',
          output_index: 0,
          content_index: 0,
        },
        {
          type: 'response.completed',
          sequence_number: 2,
          response: {
            id: 'resp_2',
            model: 'gpt-4o-mini',
            status: 'completed',
            output: [],
            usage: { input_tokens: 3, output_tokens: 1, total_tokens: 4 },
          },
        },
      ],
    });
    const events = [];
    for await (const e of await openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', stream: true }))
      events.push(e.type);
    expect(events).toEqual(['response.created', 'response.output_text.delta', 'response.completed']);
    server.reply({
      json: {
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }],
        model: 'text-embedding-3-small',
        usage: { prompt_tokens: 2, total_tokens: 2 },
      },
    });
    const e = await openai.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'hi',
      encoding_format: 'float',
    });
    expect(e.data[0]!.embedding).toEqual([0.1, 0.2]);

    const { ops } = await spansByKind();
    const byApi = Object.fromEntries(
      ops.map((o) => [
        `${o.attributes['openai.api.type']}:${o.attributes['gen_ai.request.stream'] === true}`,
        o,
      ]),
    );
    expect(byApi['responses:false']!.attributes['gen_ai.operation.name']).toBe('chat');
    expect(byApi['responses:false']!.attributes['gen_ai.usage.input_tokens']).toBe(4);
    expect(byApi['responses:true']!.attributes['gen_ai.usage.input_tokens']).toBe(3);
    expect(byApi['responses:true']!.attributes['gen_ai.response.id']).toBe('resp_2');
    expect(byApi['embeddings:false']!.name).toBe('embeddings text-embedding-3-small');
    expect(byApi['embeddings:false']!.attributes['gen_ai.operation.name']).toBe('embeddings');
  });

  test('any other method, including auto-pagination, still goes through the policy and attempt spans', async () => {
    server.reply(apiError(502, null, 'server_error', 'x'), {
      json: {
        object: 'list',
        data: [{ id: 'gpt-4o-mini', object: 'model', created: 1, owned_by: 'openai' }],
      },
    });
    const openai = client();
    const ids = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    expect(ids).toEqual(['gpt-4o-mini']);
    expect(server.received).toHaveLength(2);
    const { ops, attempts } = await spansByKind();
    expect(attempts).toHaveLength(2);
    expect(ops[0]!.attributes['gen_ai.operation.name']).toBe('models');
  });

  test('.withResponse() and .asResponse() keep working; the result is an APIPromise', async () => {
    const openai = client();
    server.reply(rateLimited(1), ok);
    const promise = openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(promise).toBeInstanceOf(APIPromise);
    const { data, response, request_id } = await promise.withResponse();
    expect(data.choices[0]!.message.content).toBe('Paris.');
    expect(response.status).toBe(200);
    expect(request_id).toBe('req_2');
    server.reply(rateLimited(1), ok);
    const raw = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages }).asResponse();
    expect(raw.bodyUsed).toBe(false);
    expect(((await raw.json()) as { choices: unknown[] }).choices).toHaveLength(1);
    expect(server.received).toHaveLength(2);
  });

  test('AzureOpenAI is instrumented the same way', async () => {
    server.reply(rateLimited(1), ok);
    const azure = new AzureOpenAI({
      endpoint: server.url.replace(/\/v1$/, ''),
      apiKey: SECRET,
      apiVersion: '2024-10-21',
      deployment: 'gpt-4o-mini',
    });
    const openai = instrument(azure, {
      tracerProvider: t.tracerProvider,
      meterProvider: t.meterProvider,
      clock: fakeClock().clock,
    });
    const r = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(r.choices[0]!.message.content).toBe('Paris.');
    expect(server.received).toHaveLength(2);
    expect(server.received[0]!.url).toContain('/deployments/gpt-4o-mini/chat/completions');
    const { ops, attempts } = await spansByKind();
    expect(attempts).toHaveLength(2);
    // The conventions name Azure OpenAI a provider of its own, on spans and metrics alike.
    expect(ops[0]!.attributes['gen_ai.provider.name']).toBe('azure.ai.openai');
    const points = await t.metric('gen_ai.client.operation.duration');
    expect(points.some((p) => p.attributes['gen_ai.provider.name'] === 'azure.ai.openai')).toBe(true);
  });

  test('the wrapped client is a new client: the original keeps its own behaviour', async () => {
    const original = new OpenAI({ baseURL: server.url, apiKey: SECRET, maxRetries: 0 });
    const openai = instrument(original, { tracerProvider: t.tracerProvider });
    expect(openai).not.toBe(original);
    server.reply(ok);
    await original.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect((await spansByKind()).ops).toHaveLength(0);
  });

  test('withOptions() on an instrumented client stays instrumented; withRetryOptions() overrides per call', async () => {
    const openai = client({ maxAttempts: 5 });
    server.reply(rateLimited(1));
    await openai
      .withOptions({ timeout: 5000 })
      .chat.completions.create({ model: 'gpt-4o-mini', messages })
      .catch(() => {});
    expect(server.received).toHaveLength(5);
    server.reply(rateLimited(1));
    await withRetryOptions(openai, { maxAttempts: 2 })
      .chat.completions.create({ model: 'gpt-4o-mini', messages })
      .catch(() => {});
    expect(server.received).toHaveLength(2);
  });
});

describe('secrets and content', () => {
  test('no API key or auth header reaches spans, events or metrics; content only with captureContent', async () => {
    server.reply(rateLimited(1), ok);
    await client().chat.completions.create({ model: 'gpt-4o-mini', messages });
    const dump = JSON.stringify({
      spans: (await t.spans()).map((s) => ({
        n: s.name,
        a: s.attributes,
        e: s.events,
        r: s.resource.attributes,
      })),
      metrics: await t.metrics(),
    });
    expect(dump).not.toContain(SECRET);
    expect(dump.toLowerCase()).not.toContain('authorization');
    expect(dump).not.toContain('capital of France');
    expect(dump).not.toContain('Paris.');
    expect(server.received[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);

    t.reset();
    server.reply(ok);
    await client({ captureContent: true }).chat.completions.create({ model: 'gpt-4o-mini', messages });
    const op = (await spansByKind()).ops[0]!;
    expect(String(op.attributes['gen_ai.input.messages'])).toContain('capital of France');
    expect(String(op.attributes['gen_ai.output.messages'])).toContain('Paris.');
  });
});

describe('telemetry is best-effort', () => {
  test('a tracer and meter that throw change nothing for the caller', async () => {
    const boom = () => {
      throw new Error('telemetry exploded');
    };
    const brokenTracer = { startSpan: boom, startActiveSpan: boom };
    const brokenMeter = new Proxy({}, { get: () => () => ({ add: boom, record: boom }) });
    server.reply(rateLimited(1), ok);
    const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: SECRET }), {
      tracerProvider: { getTracer: () => brokenTracer as never },
      meterProvider: { getMeter: () => brokenMeter as never },
      clock: fakeClock().clock,
    });
    const r = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(r.choices[0]!.message.content).toBe('Paris.');
    expect(server.received).toHaveLength(2);
  });
});

describe('bad input to instrument()', () => {
  test.each([
    [{}, /expects an openai client/],
    [null, /expects an openai client/],
  ])('a non-client (%j) is refused', (bad, message) => {
    expect(() => instrument(bad as never)).toThrow(message);
    expect(() => instrument(bad as never)).toThrow(RetryscopeConfigError);
  });

  test.each<[RetryscopeOptions, RegExp]>([
    [{ maxAttempts: 0 }, /maxAttempts" must be an integer >= 1 \(got 0\)/],
    [{ maxAttempts: -2 }, /maxAttempts/],
    [{ maxAttempts: 1.5 }, /maxAttempts/],
    [{ deadlineMs: -1 }, /deadlineMs" must be a positive number/],
    [
      { backoff: { jitter: 'sometimes' as never } },
      /backoff.jitter" must be one of full, equal, decorrelated, none/,
    ],
    [{ backoff: { initialMs: 500, maxMs: 100 } }, /backoff.maxMs" must be >= backoff.initialMs/],
    [{ maxRetryAfterMs: Number.NaN }, /maxRetryAfterMs/],
    [{ maxAtempts: 3 } as never, /"maxAtempts" is not an option/],
    [{ tracerProvider: {} as never }, /tracerProvider/],
  ])('%j is refused with a clear error', (options, message) => {
    expect(() => instrument(new OpenAI({ apiKey: 'x' }), options)).toThrow(message);
  });
});

test('a client instrumented before the metrics SDK is registered still records into it', async () => {
  const { metrics } = await import('@opentelemetry/api');
  const late = createTestTelemetry();
  server.reply(ok);
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: SECRET }), {
    tracerProvider: t.tracerProvider,
  });
  metrics.setGlobalMeterProvider(late.meterProvider);
  try {
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(sumWhere(await late.metric('gen_ai.client.operation.duration'))).toBe(1);
  } finally {
    metrics.disable();
  }
});
