/**
 * The SDK's own retry settings keep their meaning through instrument(): an
 * explicit constructor `maxRetries`, `withOptions({ maxRetries })` and a
 * per-call `maxRetries`, valid or not, and a caller's own retry-count header.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { instrument, type RetryscopeOptions } from '../../src/index.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { apiError, chatCompletion, ScriptedServer } from '../helpers/scripted-server.ts';

let server: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());

const messages = [{ role: 'user' as const, content: 'hi' }];
const down = apiError(503, null, 'server_error', 'down');

function wrap(sdk: ConstructorParameters<typeof OpenAI>[0] = {}, options: RetryscopeOptions = {}) {
  return instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-ctor', ...sdk }), {
    clock: fakeClock().clock,
    limiter: false,
    retryBudget: false,
    circuitBreaker: false,
    ...options,
  });
}

async function attemptsOf(openai: OpenAI, requestOptions: OpenAI.RequestOptions = {}) {
  server.reply(down);
  await openai.chat.completions.create({ model: 'gpt-4o-mini', messages }, requestOptions).catch(() => {});
  return server.received.length;
}

describe('maxRetries', () => {
  test.each([
    [0, 1],
    [1, 2],
    [5, 6],
  ])('new OpenAI({ maxRetries: %i }) makes %i attempts', async (maxRetries, attempts) => {
    expect(await attemptsOf(wrap({ maxRetries }))).toBe(attempts);
  });

  test("the SDK's default is not a choice: retryscope's default of 4 attempts stands", async () => {
    expect(await attemptsOf(wrap())).toBe(4);
  });

  test("instrument()'s own maxAttempts wins over the constructor's maxRetries", async () => {
    expect(await attemptsOf(wrap({ maxRetries: 0 }, { maxAttempts: 3 }))).toBe(3);
  });

  test('withOptions({ maxRetries }) and a per-call maxRetries set the attempts', async () => {
    const openai = wrap({}, { maxAttempts: 3 });
    expect(await attemptsOf(openai.withOptions({ maxRetries: 1 }))).toBe(2);
    expect(await attemptsOf(openai, { maxRetries: 0 })).toBe(1);
  });

  test('a maxRetries the SDK would not honour (2.5, 1.7, -1) is treated as not given, everywhere alike', async () => {
    const openai = wrap({}, { maxAttempts: 3 });
    // withOptions used to throw here while a per-call 1.7 was floored to 2 attempts.
    expect(await attemptsOf(openai.withOptions({ maxRetries: 2.5 }))).toBe(3);
    expect(await attemptsOf(openai, { maxRetries: 1.7 })).toBe(3);
    expect(await attemptsOf(wrap({ maxRetries: -1 }))).toBe(4);
  });
});

describe('x-stainless-retry-count', () => {
  const counts = () => server.received.map((r) => r.headers['x-stainless-retry-count']);

  test('without one from the caller, each attempt says which retry it is, as the SDK does', async () => {
    await attemptsOf(wrap({}, { maxAttempts: 3 }));
    expect(counts()).toEqual(['0', '1', '2']);
  });

  test("a caller's own header, per call or as a default header, is sent as given", async () => {
    await attemptsOf(wrap({}, { maxAttempts: 2 }), { headers: { 'X-Stainless-Retry-Count': 'mine' } });
    expect(counts()).toEqual(['mine', 'mine']);
    await attemptsOf(wrap({ defaultHeaders: { 'x-stainless-retry-count': 'default' } }, { maxAttempts: 2 }));
    expect(counts()).toEqual(['default', 'default']);
    await attemptsOf(wrap({}, { maxAttempts: 2 }), {
      headers: new Headers({ 'x-stainless-retry-count': '7' }),
    });
    expect(counts()).toEqual(['7', '7']);
  });

  test('a Headers object from the caller still gets the count when it does not set one', async () => {
    server.reply(down, { json: chatCompletion() });
    await wrap().chat.completions.create(
      { model: 'gpt-4o-mini', messages },
      { headers: new Headers({ 'x-a': 'b' }) },
    );
    expect(counts()).toEqual(['0', '1']);
    expect(server.received[1]!.headers['x-a']).toBe('b');
  });
});
