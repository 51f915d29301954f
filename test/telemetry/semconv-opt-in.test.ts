/**
 * OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental: inference
 * operations record the renamed GenAI metrics (semantic-conventions-genai
 * at the pin in attributes.ts) instead of the default ones; embeddings keep
 * `gen_ai.client.operation.duration`. Calls go to a loopback server speaking
 * OpenAI's wire format; metrics are read from an in-memory reader.
 */
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { instrument } from '../../src/index.ts';
import * as A from '../../src/telemetry/attributes.ts';
import { genAiNaming } from '../../src/telemetry/semconv.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry, sumWhere } from '../helpers/otel.ts';
import { apiError, chatCompletion, ScriptedServer } from '../helpers/scripted-server.ts';

let server: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());
afterEach(() => vi.unstubAllEnvs());

const LATEST = [
  A.METRIC_INFERENCE_DURATION,
  A.METRIC_USAGE_INPUT_TOKENS,
  A.METRIC_USAGE_OUTPUT_TOKENS,
  A.METRIC_OPERATION_INPUT_TOKENS,
  A.METRIC_OPERATION_OUTPUT_TOKENS,
];
const messages = [{ role: 'user' as const, content: 'hi' }];
const embeddingReply = {
  json: {
    object: 'list',
    data: [{ object: 'embedding', index: 0, embedding: [0.1] }],
    model: 'text-embedding-3-small',
    usage: { prompt_tokens: 2, total_tokens: 2 },
  },
};

/** A client made with the variable as given, and its telemetry. */
function setup(optIn: string | undefined) {
  if (optIn !== undefined) vi.stubEnv('OTEL_SEMCONV_STABILITY_OPT_IN', optIn);
  const t = createTestTelemetry();
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test-opt-in-0000' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock().clock,
    maxAttempts: 1,
  });
  const names = async () => new Set((await t.metrics()).map((m) => m.descriptor.name));
  return { t, openai, names };
}

describe('parsing the variable', () => {
  test.each([
    ['gen_ai_latest_experimental', 'latest'],
    ['http, gen_ai_latest_experimental ,database', 'latest'],
    ['http/dup,database', 'default'],
    ['gen_ai_latest_experimental/dup', 'default'],
    ['', 'default'],
  ] as const)('%j is %s', (value, naming) => {
    expect(genAiNaming({ OTEL_SEMCONV_STABILITY_OPT_IN: value })).toBe(naming);
  });

  test('unset is default', () => {
    expect(genAiNaming({})).toBe('default');
  });
});

describe('opted in', () => {
  test('a chat call records inference duration and the token counters and histograms, not the default names', async () => {
    const { t, openai, names } = setup('http,gen_ai_latest_experimental');
    server.reply({ json: chatCompletion('ok') });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    const exported = await names();
    for (const name of LATEST) expect(exported, name).toContain(name);
    expect(exported).not.toContain(A.METRIC_OPERATION_DURATION);
    expect(exported).not.toContain(A.METRIC_TOKEN_USAGE);

    const [duration] = await t.metric(A.METRIC_INFERENCE_DURATION);
    expect(duration!.attributes).toMatchObject({
      [A.ATTR_GEN_AI_OPERATION_NAME]: 'chat',
      [A.ATTR_GEN_AI_PROVIDER_NAME]: 'openai',
      [A.ATTR_GEN_AI_REQUEST_MODEL]: 'gpt-4o-mini',
      [A.ATTR_OUTCOME]: 'success',
    });
    expect((duration!.value as { count: number }).count).toBe(1);

    const [input] = await t.metric(A.METRIC_USAGE_INPUT_TOKENS);
    expect(input!.value).toBe(7);
    expect(input!.attributes[A.ATTR_GEN_AI_TOKEN_MODALITY]).toBe('unknown');
    expect(input!.attributes[A.ATTR_GEN_AI_TOKEN_TYPE]).toBeUndefined();
    expect(sumWhere(await t.metric(A.METRIC_USAGE_OUTPUT_TOKENS))).toBe(3);

    const [perOperation] = await t.metric(A.METRIC_OPERATION_INPUT_TOKENS);
    expect(perOperation!.value).toMatchObject({ count: 1, sum: 7 });
    expect(perOperation!.attributes[A.ATTR_ERROR_TYPE]).toBeUndefined();
    expect(perOperation!.attributes[A.ATTR_GEN_AI_TOKEN_MODALITY]).toBeUndefined();
    expect((await t.metric(A.METRIC_OPERATION_OUTPUT_TOKENS))[0]!.value).toMatchObject({ count: 1, sum: 3 });
  });

  test('a failed chat call counts 0 tokens under the unknown modality; the histograms carry error.type', async () => {
    const { t, openai } = setup('gen_ai_latest_experimental');
    server.reply(apiError(400, 'invalid_value', 'invalid_request_error', 'bad request'));
    await expect(openai.chat.completions.create({ model: 'gpt-4o-mini', messages })).rejects.toThrow();
    const [duration] = await t.metric(A.METRIC_INFERENCE_DURATION);
    expect(duration!.attributes[A.ATTR_ERROR_TYPE]).toBe('BadRequestError');
    const [input] = await t.metric(A.METRIC_USAGE_INPUT_TOKENS);
    expect(input).toMatchObject({ value: 0, attributes: { [A.ATTR_GEN_AI_TOKEN_MODALITY]: 'unknown' } });
    const [perOperation] = await t.metric(A.METRIC_OPERATION_OUTPUT_TOKENS);
    expect(perOperation!.value).toMatchObject({ count: 1, sum: 0 });
    expect(perOperation!.attributes[A.ATTR_ERROR_TYPE]).toBe('BadRequestError');
  });

  test('embeddings are not inference: gen_ai.client.operation.duration, and no token metric', async () => {
    const { t, openai, names } = setup('gen_ai_latest_experimental');
    server.reply(embeddingReply);
    await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hi' });
    const [duration] = await t.metric(A.METRIC_OPERATION_DURATION);
    expect(duration!.attributes[A.ATTR_GEN_AI_OPERATION_NAME]).toBe('embeddings');
    const exported = await names();
    for (const name of [...LATEST, A.METRIC_TOKEN_USAGE]) expect(exported, name).not.toContain(name);
  });

  test('is read when the client is made: changing the variable later renames nothing', async () => {
    const { openai, names } = setup('gen_ai_latest_experimental');
    vi.stubEnv('OTEL_SEMCONV_STABILITY_OPT_IN', '');
    server.reply({ json: chatCompletion('ok') });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(await names()).toContain(A.METRIC_INFERENCE_DURATION);
  });
});

describe('not opted in', () => {
  test.each([undefined, 'http,database'])(
    '%j: the default names, none of the renamed ones',
    async (value) => {
      const { t, openai, names } = setup(value);
      server.reply({ json: chatCompletion('ok') });
      await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
      server.reply(embeddingReply);
      await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hi' });
      expect(sumWhere(await t.metric(A.METRIC_OPERATION_DURATION))).toBe(2);
      expect(sumWhere(await t.metric(A.METRIC_TOKEN_USAGE), { [A.ATTR_GEN_AI_TOKEN_TYPE]: 'input' })).toBe(2);
      const exported = await names();
      for (const name of LATEST) expect(exported, name).not.toContain(name);
    },
  );
});
