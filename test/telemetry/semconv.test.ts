/**
 * The GenAI and HTTP convention attributes at the pinned commit, on exported
 * spans and metrics: request parameters (type-checked), the API type, the
 * service tier and fingerprint, time to first chunk, `server.port` on
 * metrics, and the HTTP method and URL template on attempt spans.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { instrument, type RetryscopeOptions } from '../../src/index.ts';
import { urlTemplate } from '../../src/telemetry/genai.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry } from '../helpers/otel.ts';
import { chatCompletion, ScriptedServer } from '../helpers/scripted-server.ts';
import { chunk, StreamServer } from '../helpers/stream-server.ts';

let server: ScriptedServer;
const t = createTestTelemetry();
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());
beforeEach(() => t.reset());

const messages = [{ role: 'user' as const, content: 'hi' }];

function client(baseURL = server.url, clock = fakeClock().clock, options: RetryscopeOptions = {}) {
  return instrument(new OpenAI({ baseURL, apiKey: 'sk-test-semconv-0000' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock,
    ...options,
  });
}

async function spans() {
  const all = await t.spans();
  return {
    op: all.find((s) => s.attributes['retryscope.outcome'] !== undefined)!,
    attempts: all.filter((s) => s.attributes['retryscope.attempt'] !== undefined),
  };
}

const responseBody = (extra: object = {}) => ({
  id: 'resp_1',
  object: 'response',
  created_at: 1,
  model: 'gpt-4o-mini',
  status: 'completed',
  output: [],
  usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 },
  ...extra,
});

describe('request parameters', () => {
  test('Chat: every recorded parameter, the API type, the response tier and fingerprint', async () => {
    server.reply({
      json: { ...chatCompletion('ok'), service_tier: 'default', system_fingerprint: 'fp_44709d' },
    });
    await client().chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      temperature: 0.2,
      top_p: 0.9,
      max_completion_tokens: 50,
      frequency_penalty: 0.1,
      presence_penalty: 0.3,
      stop: ['END', 'STOP'],
      seed: 42,
      n: 2,
      response_format: { type: 'json_object' },
      service_tier: 'flex',
    });
    const { op } = await spans();
    expect(op.attributes).toMatchObject({
      'openai.api.type': 'chat_completions',
      'gen_ai.request.temperature': 0.2,
      'gen_ai.request.top_p': 0.9,
      'gen_ai.request.max_tokens': 50,
      'gen_ai.request.frequency_penalty': 0.1,
      'gen_ai.request.presence_penalty': 0.3,
      'gen_ai.request.stop_sequences': ['END', 'STOP'],
      'gen_ai.request.seed': 42,
      'gen_ai.request.choice.count': 2,
      'gen_ai.output.type': 'json',
      'openai.request.service_tier': 'flex',
      'openai.response.service_tier': 'default',
      'openai.response.system_fingerprint': 'fp_44709d',
    });
    // Unset means not streaming, as the convention says.
    expect(op.attributes['gen_ai.request.stream']).toBeUndefined();
    expect(op.attributes['gen_ai.response.time_to_first_chunk']).toBeUndefined();
  });

  test('values of the wrong type, n = 1 and service_tier auto are not recorded', async () => {
    server.reply({ json: chatCompletion('ok') });
    // Validation off: the body reaches the server as given, and only telemetry judges it.
    await client(server.url, fakeClock().clock, { validate: false }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      temperature: '0.5',
      top_p: null,
      max_tokens: 1.5,
      seed: '7',
      stop: ['x', 1],
      n: 1,
      service_tier: 'auto',
      response_format: { type: 'unknown' },
    } as never);
    const { op } = await spans();
    for (const name of [
      'gen_ai.request.temperature',
      'gen_ai.request.top_p',
      'gen_ai.request.max_tokens',
      'gen_ai.request.seed',
      'gen_ai.request.stop_sequences',
      'gen_ai.request.choice.count',
      'openai.request.service_tier',
      'gen_ai.output.type',
    ])
      expect(op.attributes[name], name).toBeUndefined();
    expect(server.received[0]!.body).toMatchObject({ temperature: '0.5' });
  });

  test('max_tokens, a string stop and audio modalities are read too', async () => {
    server.reply({ json: chatCompletion('ok') });
    await client().chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      max_tokens: 7,
      stop: 'END',
      modalities: ['text', 'audio'],
      audio: { voice: 'alloy', format: 'wav' },
    });
    const { op } = await spans();
    expect(op.attributes['gen_ai.request.max_tokens']).toBe(7);
    expect(op.attributes['gen_ai.request.stop_sequences']).toEqual(['END']);
    expect(op.attributes['gen_ai.output.type']).toBe('speech');
  });

  test('Responses: conversation, previous response, max_output_tokens, text.format', async () => {
    server.reply({ json: responseBody({ service_tier: 'priority' }) });
    const openai = client();
    await openai.responses.create({
      model: 'gpt-4o-mini',
      input: 'hi',
      conversation: 'conv_5j66UpCp',
      previous_response_id: 'resp_0123',
      max_output_tokens: 100,
      text: { format: { type: 'text' } },
    });
    let { op } = await spans();
    expect(op.attributes).toMatchObject({
      'openai.api.type': 'responses',
      'gen_ai.conversation.id': 'conv_5j66UpCp',
      'gen_ai.request.previous_response.id': 'resp_0123',
      'gen_ai.request.max_tokens': 100,
      'gen_ai.output.type': 'text',
      'openai.response.service_tier': 'priority',
    });
    t.reset();
    server.reply({ json: responseBody() });
    await openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', conversation: { id: 'conv_obj' } });
    ({ op } = await spans());
    expect(op.attributes['gen_ai.conversation.id']).toBe('conv_obj');
  });
});

describe('streams', () => {
  test('gen_ai.request.stream, and time to first chunk in seconds from the attempt sent', async () => {
    const streams = await new StreamServer().start();
    try {
      const clock = fakeClock();
      streams.script({
        sse: [{ ...chunk('a'), system_fingerprint: 'fp_s', service_tier: 'default' }, chunk('b', 'stop')],
        after: 'hold',
      });
      const stream = await client(streams.url, clock.clock).chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
        stream: true,
      });
      clock.advance(1500);
      streams.release();
      for await (const _ of stream);
      const { op } = await spans();
      expect(op.attributes).toMatchObject({
        'gen_ai.request.stream': true,
        'gen_ai.response.time_to_first_chunk': 1.5,
        'openai.response.system_fingerprint': 'fp_s',
        'openai.response.service_tier': 'default',
      });
    } finally {
      await streams.close();
    }
  });
});

describe('server.port and HTTP client attributes', () => {
  test('metrics carry server.port next to server.address', async () => {
    server.reply({ json: chatCompletion('ok') });
    await client().chat.completions.create({ model: 'gpt-4o-mini', messages });
    const port = Number(new URL(server.url).port);
    for (const name of [
      'gen_ai.client.operation.duration',
      'gen_ai.client.token.usage',
      'retryscope.client.attempts',
    ]) {
      const points = await t.metric(name);
      // Cumulative over this file's calls (two servers): every point has both, and one is this server's.
      expect(
        points.some((p) => p.attributes['server.port'] === port),
        name,
      ).toBe(true);
      for (const p of points) {
        expect(p.attributes['server.address'], name).toBe('127.0.0.1');
        expect(typeof p.attributes['server.port'], name).toBe('number');
      }
    }
  });

  test('attempt spans: http.request.method and url.template, never url.full', async () => {
    server.reply({ json: chatCompletion('ok') });
    const openai = client();
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    let { attempts } = await spans();
    expect(attempts[0]!.attributes).toMatchObject({
      'http.request.method': 'POST',
      'url.template': '/chat/completions',
    });
    t.reset();
    server.reply({ json: responseBody({ id: 'resp_abc123' }) });
    await openai.responses.retrieve('resp_abc123');
    ({ attempts } = await spans());
    expect(attempts[0]!.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.template': '/responses/{response_id}',
    });
    const dump = JSON.stringify((await t.spans()).map((s) => s.attributes));
    expect(dump).not.toContain('resp_abc123/');
    expect(dump).not.toContain('url.full');
  });

  test.each([
    ['/responses/resp_1/input_items', '/responses/{response_id}/input_items'],
    ['/vector_stores/vs_1/files/file-2', '/vector_stores/{vector_store_id}/files/{file_id}'],
    ['/batches/batch_1/cancel', '/batches/{batch_id}/cancel'],
    ['/deployments/my-gpt/chat/completions', '/deployments/{deployment_id}/chat/completions'],
    ['/models?after=x', '/models'],
    ['/', '/'],
  ])('url.template of %s is %s', (path, template) => {
    expect(urlTemplate(path)).toBe(template);
  });
});
