/**
 * RetryscopeInstrumentation in process: its patch of the openai exports (as
 * require-in-the-middle would hand them out), enable()/disable(), config
 * checks, and how it meets an app's own instrument() call.
 *
 * retryscope is loaded by Node itself here, not by vitest's transform: the patch requires
 * its core (src/openai/auto.ts) natively, so the test must hold those same module instances.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as openaiExports from 'openai';
import OpenAI, { AzureOpenAI } from 'openai';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { createTestTelemetry } from '../helpers/otel.ts';
import { chatCompletion, rateLimited, ScriptedServer } from '../helpers/scripted-server.ts';

const native = createRequire(import.meta.url);
const { instrument, RetryscopeConfigError } = native(
  '../../src/index.ts',
) as typeof import('../../src/index.ts');
const { RetryscopeInstrumentation, SUPPORTED_OPENAI } = native(
  '../../src/instrumentation.ts',
) as typeof import('../../src/instrumentation.ts');

let server: ScriptedServer;
const otel = createTestTelemetry();
// Off the global hooks: the patch is applied by hand below, to the exports this test imports.
const instrumentation = new RetryscopeInstrumentation({
  enabled: false,
  tracerProvider: otel.tracerProvider,
  meterProvider: otel.meterProvider,
  limiter: false,
});
let patched: typeof openaiExports;
beforeAll(async () => {
  server = await new ScriptedServer().start();
  const [definition] = instrumentation.getModuleDefinitions();
  expect(definition).toMatchObject({ name: 'openai', supportedVersions: ['>=7.12.1 <8'] });
  patched = definition!.patch!(openaiExports, '7.59.0') as typeof openaiExports;
  instrumentation.enable();
});
afterAll(() => {
  instrumentation.disable();
  server.close();
});
beforeEach(() => {
  otel.reset();
  server.reply(rateLimited(1), { json: chatCompletion('after a 429') });
});

const options = () => ({ baseURL: server.url, apiKey: 'sk-auto' });
const ask = (client: OpenAI) =>
  client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
const attemptSpans = async () => (await otel.spans()).filter((s) => /^attempt \d+$/.test(s.name));
const instrumented = (client: object) => Object.hasOwn(client, 'request');

test('a client made from the patched class is instrumented and still the SDK’s class', async () => {
  const client = new patched.OpenAI(options());
  expect(client).toBeInstanceOf(OpenAI);
  expect(client).toBeInstanceOf(patched.OpenAI);
  expect(patched.default).toBe(patched.OpenAI);
  expect(patched.OpenAI.RateLimitError).toBe(OpenAI.RateLimitError);
  expect(instrumented(client)).toBe(true);
  expect((await ask(client)).choices[0]!.message.content).toBe('after a 429');
  expect((await attemptSpans()).map((s) => s.attributes['http.response.status_code'])).toEqual([429, 200]);
});

test('AzureOpenAI and an app’s own subclass are patched too', () => {
  const azure = new patched.AzureOpenAI({
    endpoint: 'http://127.0.0.1:1',
    apiKey: 'k',
    apiVersion: '2024-10-21',
  });
  expect(azure).toBeInstanceOf(AzureOpenAI);
  expect(instrumented(azure)).toBe(true);
  class Mine extends patched.OpenAI {
    mine = true;
  }
  const mine = new Mine(options());
  expect(mine).toBeInstanceOf(Mine);
  expect(mine.mine).toBe(true);
  expect(instrumented(mine)).toBe(true);
});

test('disabled, new clients are the SDK’s own; enabled again, they are instrumented', () => {
  instrumentation.disable();
  expect(instrumented(new patched.OpenAI(options()))).toBe(false);
  instrumentation.enable();
  expect(instrumented(new patched.OpenAI(options()))).toBe(true);
});

test('a maxRetries the app passes to the constructor wins over the config’s maxAttempts', async () => {
  await ask(new patched.OpenAI({ ...options(), maxRetries: 0 })).catch(() => {});
  expect(await attemptSpans()).toHaveLength(1);
});

test('the app’s own instrument() on such a client replaces zero-code’s: its options, one layer of spans', async () => {
  const client = instrument(new patched.OpenAI(options()), {
    maxAttempts: 1,
    tracerProvider: otel.tracerProvider,
  });
  await expect(ask(client)).rejects.toBeInstanceOf(OpenAI.RateLimitError);
  const spans = await otel.spans();
  expect(spans.filter((s) => /^attempt/.test(s.name))).toHaveLength(1);
  expect(spans).toHaveLength(2);
});

test('the versions it hooks are retryscope’s peer range of openai', () => {
  const range = JSON.parse(readFileSync('package.json', 'utf8')).peerDependencies.openai as string;
  const floor = /^\^(\d+)\.(\d+\.\d+)$/.exec(range)!;
  expect(SUPPORTED_OPENAI).toEqual([`>=${floor[1]}.${floor[2]} <${Number(floor[1]) + 1}`]);
});

test('config is checked as instrument() checks it, at construction and in setConfig()', () => {
  expect(() => new RetryscopeInstrumentation({ maxAttempts: 0, enabled: false })).toThrow(
    RetryscopeConfigError,
  );
  expect(() => instrumentation.setConfig({ bogus: 1 } as never)).toThrow(/option "bogus" is not an option/);
  expect(instrumentation.getConfig()).toMatchObject({ limiter: false });
});
