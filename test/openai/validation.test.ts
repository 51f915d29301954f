import OpenAI, { AzureOpenAI } from 'openai';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import {
  getAttemptHistory,
  InvalidRequestError,
  instrument,
  type RetryscopeOptions,
} from '../../src/index.ts';
import { createTestTelemetry, sumWhere } from '../helpers/otel.ts';
import { apiError, chatCompletion, ScriptedServer } from '../helpers/scripted-server.ts';

let server: ScriptedServer;
const t = createTestTelemetry();
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());
beforeEach(() => {
  t.reset();
  server.reply({ json: chatCompletion() });
});

const client = (options: RetryscopeOptions = {}) =>
  instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    ...options,
  });

const user = [{ role: 'user' as const, content: 'hi' }];

test.each<[string, () => Promise<unknown>, string, RegExp]>([
  [
    'temperature out of range',
    () => client().chat.completions.create({ model: 'gpt-4o-mini', messages: user, temperature: 3 }),
    'temperature',
    /Invalid value for 'temperature': 3 is greater than the maximum of 2/,
  ],
  [
    'top_p out of range',
    () => client().chat.completions.create({ model: 'gpt-4o-mini', messages: user, top_p: 1.5 }),
    'top_p',
    /top_p/,
  ],
  [
    'n below 1',
    () => client().chat.completions.create({ model: 'gpt-4o-mini', messages: user, n: 0 }),
    'n',
    /'n'/,
  ],
  [
    'max_tokens below 1',
    () => client().chat.completions.create({ model: 'gpt-4o-mini', messages: user, max_tokens: 0 }),
    'max_tokens',
    /max_tokens/,
  ],
  [
    'a missing model',
    () => client().chat.completions.create({ model: '', messages: user }),
    'model',
    /model/,
  ],
  [
    'empty messages',
    () => client().chat.completions.create({ model: 'gpt-4o-mini', messages: [] }),
    'messages',
    /messages/,
  ],
  [
    'an unknown role',
    () =>
      client().chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'robot', content: 'x' } as never],
      }),
    'messages[0].role',
    /robot/,
  ],
  [
    'an empty embeddings input',
    () => client().embeddings.create({ model: 'text-embedding-3-small', input: [] }),
    'input',
    /input/,
  ],
])('%s: refused before sending, with a clear BadRequestError', async (_name, call, param, message) => {
  const error = await call().catch((e) => e);
  expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  expect(error).toBeInstanceOf(InvalidRequestError);
  expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe(param);
  expect((error as Error).message).toMatch(message);
  expect(server.received).toHaveLength(0);
  const spans = await t.spans();
  expect(spans.filter((s) => s.attributes['retryscope.attempt'] !== undefined)).toHaveLength(0);
  const ops = spans.filter((s) => s.attributes['retryscope.outcome'] !== undefined);
  expect(ops).toHaveLength(1);
  expect(ops[0]!.attributes['retryscope.outcome']).toBe('invalid_request');
  expect(getAttemptHistory(error)!.attempts).toBe(0);
});

test('refusals are counted in the metrics', async () => {
  const t2 = createTestTelemetry();
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test' }), {
    meterProvider: t2.meterProvider,
  });
  await openai.chat.completions
    .create({ model: 'gpt-4o-mini', messages: user, temperature: -1 })
    .catch(() => {});
  expect(
    sumWhere(await t2.metric('gen_ai.client.operation.duration'), {
      'retryscope.outcome': 'invalid_request',
    }),
  ).toBe(1);
});

test('a prompt that cannot fit the model’s context window is refused (Request too large)', async () => {
  const huge = 'The quick brown fox jumps over the lazy dog. '.repeat(20_000); // ~200k tokens, gpt-4o-mini holds 128k
  const error = await client()
    .chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: huge }],
      max_tokens: 100,
    })
    .catch((e) => e);
  expect(error).toBeInstanceOf(InvalidRequestError);
  expect((error as Error).message).toMatch(/maximum context length is 128000 tokens/);
  expect(server.received).toHaveLength(0);
});

test('context windows can be extended for other models', async () => {
  const error = await client({ validate: { contextWindows: { 'my-small-model': 20 } } })
    .chat.completions.create({
      model: 'my-small-model',
      messages: [{ role: 'user', content: 'word '.repeat(50) }],
    })
    .catch((e) => e);
  expect(error).toBeInstanceOf(InvalidRequestError);
  expect(server.received).toHaveLength(0);
});

test('validate: false sends the request, and the server’s 400 is what the caller gets', async () => {
  server.reply(apiError(400, 'invalid_value', 'invalid_request_error', "Invalid value for 'temperature'"));
  const error = await client({ validate: false })
    .chat.completions.create({ model: 'gpt-4o-mini', messages: user, temperature: 3 })
    .catch((e) => e);
  expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  expect(error).not.toBeInstanceOf(InvalidRequestError);
  expect(server.received).toHaveLength(1);
});

test('valid requests are sent', async () => {
  const r = await client().chat.completions.create({
    model: 'gpt-4o-mini',
    messages: user,
    temperature: 2,
    top_p: 1,
  });
  expect(r.choices).toHaveLength(1);
  expect(server.received).toHaveLength(1);
});

// Issue 10: every /responses/* route used to get the create-body check and was refused unsent.
const page = { object: 'list', data: [], first_id: null, last_id: null, has_more: false };
test.each<[string, string, string, (c: OpenAI) => PromiseLike<unknown>]>([
  ['responses.retrieve', 'GET', '/v1/responses/resp_1', (c) => c.responses.retrieve('resp_1')],
  ['responses.delete', 'DELETE', '/v1/responses/resp_1', (c) => c.responses.delete('resp_1')],
  ['responses.cancel', 'POST', '/v1/responses/resp_1/cancel', (c) => c.responses.cancel('resp_1')],
  [
    'responses.inputItems.list',
    'GET',
    '/v1/responses/resp_1/input_items',
    (c) => c.responses.inputItems.list('resp_1'),
  ],
  [
    'responses.compact',
    'POST',
    '/v1/responses/compact',
    (c) => c.responses.compact({ model: 'gpt-5', input: 'hi' } as never),
  ],
  [
    'responses.inputTokens.count',
    'POST',
    '/v1/responses/input_tokens',
    (c) => c.responses.inputTokens.count({ model: 'gpt-5', input: 'hi' } as never),
  ],
  [
    'chat.completions.retrieve',
    'GET',
    '/v1/chat/completions/chatcmpl_1',
    (c) => c.chat.completions.retrieve('chatcmpl_1'),
  ],
  ['chat.completions.list', 'GET', '/v1/chat/completions', (c) => c.chat.completions.list()],
])('%s is sent untouched, one request', async (_name, method, path, call) => {
  server.reply({ json: page });
  await call(client());
  expect(server.received.map((r) => `${r.method} ${r.url.split('?')[0]}`)).toEqual([`${method} ${path}`]);
});

test('client.request() to an unknown path is not checked', async () => {
  server.reply({ json: page });
  await client().post('/v1-custom/anything', { body: null });
  expect(server.received).toHaveLength(1);
});

test('an Azure deployment path is checked like the endpoint it names', async () => {
  const error = await client()
    .post('/deployments/my-gpt-4o/chat/completions?api-version=2024-10-21', {
      body: { model: 'gpt-4o', messages: [] },
    })
    .catch((e) => e);
  expect(error).toBeInstanceOf(InvalidRequestError);
  expect((error as InstanceType<typeof InvalidRequestError>).param).toBe('messages');
  expect(server.received).toHaveLength(0);
});

test('AzureOpenAI: create calls are checked, and a valid one reaches its deployment path', async () => {
  const azure = instrument(
    new AzureOpenAI({ apiKey: 'k', baseURL: `${server.url}/openai`, apiVersion: '2024-10-21' }),
    { tracerProvider: t.tracerProvider, meterProvider: t.meterProvider },
  );
  const error = await azure.chat.completions.create({ model: 'my-gpt-4o', messages: [] }).catch((e) => e);
  expect(error).toBeInstanceOf(InvalidRequestError);
  expect(server.received).toHaveLength(0);
  await azure.chat.completions.create({ model: 'my-gpt-4o', messages: user });
  expect(server.received.map((r) => r.url.split('?')[0])).toEqual([
    '/v1/openai/deployments/my-gpt-4o/chat/completions',
  ]);
});
