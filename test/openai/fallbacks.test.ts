import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  getAttemptHistory,
  instrument,
  QuotaExhaustedError,
  type RetryscopeOptions,
  servedByFallback,
} from '../../src/index.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry, sumWhere } from '../helpers/otel.ts';
import { apiError, chatCompletion, quotaExhausted, ScriptedServer } from '../helpers/scripted-server.ts';

let primary: ScriptedServer;
let secondary: ScriptedServer;
const t = createTestTelemetry();
beforeAll(async () => {
  primary = await new ScriptedServer().start();
  secondary = await new ScriptedServer().start();
});
afterAll(async () => {
  await primary.close();
  await secondary.close();
});
beforeEach(() => t.reset());

const messages = [{ role: 'user' as const, content: 'hi' }];

function client(options: RetryscopeOptions) {
  return instrument(new OpenAI({ baseURL: primary.url, apiKey: 'sk-primary' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock().clock,
    ...options,
  });
}

async function spans() {
  const all = await t.spans();
  return {
    op: all.find((s) => s.attributes['retryscope.outcome'] !== undefined)!,
    attempts: all
      .filter((s) => s.attributes['retryscope.attempt'] !== undefined)
      .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]),
  };
}

describe('fallbacks', () => {
  test('a primary model out of quota is answered by the fallback model, both hops in one trace', async () => {
    primary.reply(quotaExhausted(), { json: chatCompletion('from the fallback', 'gpt-4o-mini') });
    const openai = client({ fallbacks: [{ model: 'gpt-4o-mini' }] });
    const r = await openai.chat.completions.create({ model: 'gpt-4o', messages });
    expect(r.choices[0]!.message.content).toBe('from the fallback');
    expect(servedByFallback(r)).toEqual({
      fallbackIndex: 1,
      model: 'gpt-4o-mini',
      reason: 'quota_exhausted',
      degraded: false,
    });
    expect(primary.received.map((q) => (q.body as { model: string }).model)).toEqual([
      'gpt-4o',
      'gpt-4o-mini',
    ]);

    const { op, attempts } = await spans();
    expect(op.attributes['retryscope.outcome']).toBe('fallback');
    expect(op.attributes['retryscope.fallback_index']).toBe(1);
    expect(op.attributes['retryscope.fallback_reason']).toBe('quota_exhausted');
    expect(op.attributes['retryscope.attempts']).toBe(2);
    expect(op.status.code).not.toBe(2);
    expect(
      attempts.map((a) => [a.attributes['gen_ai.request.model'], a.attributes['retryscope.fallback_index']]),
    ).toEqual([
      ['gpt-4o', 0],
      ['gpt-4o-mini', 1],
    ]);
    expect(attempts.every((a) => a.parentSpanContext?.spanId === op.spanContext().spanId)).toBe(true);
    const fallbacks = await t.metric('retryscope.client.fallbacks');
    expect(
      sumWhere(fallbacks, {
        'retryscope.fallback_reason': 'quota_exhausted',
        'gen_ai.request.model': 'gpt-4o-mini',
      }),
    ).toBe(1);
  });

  test('another client (deployment or provider) serves when the primary exhausts its retries', async () => {
    primary.reply(apiError(503, null, 'server_error', 'down'));
    secondary.reply({ json: chatCompletion('from the other provider') });
    const other = new OpenAI({ baseURL: secondary.url, apiKey: 'sk-other', maxRetries: 5 });
    const openai = client({ maxAttempts: 2, fallbacks: [{ client: other, model: 'gpt-4o' }] });
    const r = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(r.choices[0]!.message.content).toBe('from the other provider');
    expect(primary.received).toHaveLength(2);
    expect(secondary.received).toHaveLength(1);
    expect(secondary.received[0]!.headers.authorization).toBe('Bearer sk-other');
    const { op, attempts } = await spans();
    expect(op.attributes['retryscope.fallback_reason']).toBe('retries_exhausted');
    expect(attempts).toHaveLength(3);
  });

  test('each hop has its own attempts; if all fail the caller gets the last error and the history covers every hop', async () => {
    primary.reply(apiError(500, null, 'server_error', 'down'));
    const openai = client({ maxAttempts: 2, fallbacks: [{ model: 'b' }, { model: 'c' }] });
    const error = await openai.chat.completions.create({ model: 'a', messages }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(primary.received).toHaveLength(6);
    const history = getAttemptHistory(error)!;
    expect(history.history.map((h) => [h.fallbackIndex, h.model ?? 'a', h.attempt])).toEqual([
      [0, 'a', 1],
      [0, 'a', 2],
      [1, 'b', 1],
      [1, 'b', 2],
      [2, 'c', 1],
      [2, 'c', 2],
    ]);
    expect((await spans()).op.attributes['retryscope.outcome']).toBe('retries_exhausted');
  });

  test('outcomes not in fallbackOn do not fall back', async () => {
    primary.reply(apiError(400, null, 'invalid_request_error', 'bad'));
    const openai = client({ fallbacks: [{ model: 'b' }] });
    await expect(openai.chat.completions.create({ model: 'a', messages })).rejects.toBeInstanceOf(
      OpenAI.BadRequestError,
    );
    expect(primary.received).toHaveLength(1);
  });

  test('degrade answers last, and the caller can tell', async () => {
    primary.reply(quotaExhausted());
    const canned = {
      id: 'canned',
      object: 'chat.completion',
      choices: [{ message: { role: 'assistant', content: 'Try later.' } }],
    };
    let seen: unknown;
    const openai = client({
      fallbacks: [{ model: 'gpt-4o-mini' }],
      degrade: ({ error, outcome }) => {
        seen = { quota: error instanceof QuotaExhaustedError, outcome };
        return canned;
      },
    });
    const r = await openai.chat.completions.create({ model: 'gpt-4o', messages });
    expect(r).toEqual(canned);
    expect(seen).toEqual({ quota: true, outcome: 'quota_exhausted' });
    expect(servedByFallback(r)).toMatchObject({
      fallbackIndex: 2,
      degraded: true,
      reason: 'quota_exhausted',
    });
    const { op } = await spans();
    expect(op.attributes['retryscope.outcome']).toBe('fallback');
    expect(op.attributes['retryscope.fallback_index']).toBe(2);
  });

  test('streams fall back only before the first chunk', async () => {
    primary.reply(quotaExhausted(), {
      sse: [
        {
          id: 'c',
          object: 'chat.completion.chunk',
          created: 1,
          model: 'gpt-4o-mini',
          choices: [{ index: 0, delta: { content: 'ok' }, finish_reason: null }],
        },
      ],
    });
    const openai = client({ fallbacks: [{ model: 'gpt-4o-mini' }] });
    const stream = await openai.chat.completions.create({ model: 'gpt-4o', messages, stream: true });
    const chunks = [];
    for await (const c of stream) chunks.push(c.choices[0]?.delta.content);
    expect(chunks).toEqual(['ok']);
    expect(servedByFallback(stream)?.model).toBe('gpt-4o-mini');
    expect((await spans()).op.attributes['retryscope.outcome']).toBe('fallback');
  });
});
