import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, expect, test, vi } from 'vitest';
import { InvalidRequestError, instrument } from '../../src/index.ts';
import { chatCompletion, ScriptedServer } from '../helpers/scripted-server.ts';

// gpt-tokenizer is an optional peer dependency: here it is not installed.
vi.mock('gpt-tokenizer/encoding/o200k_base', () => {
  throw new Error("Cannot find package 'gpt-tokenizer'");
});

let server: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());
beforeEach(() => {
  server.reply({ json: chatCompletion() });
});

const client = () => instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test' }));

test('a prompt only counting could judge is sent: the API decides, never a guess', async () => {
  // 50k 'ꙮ' are 150k tokens in one pre-tokenizer piece: over 128k, but no bound shows it.
  const content = 'ꙮ'.repeat(50_000);
  await client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });
  expect(server.received).toHaveLength(1);
});

test('what the bounds decide is still refused, unsent', async () => {
  const content = 'The quick brown fox jumps over the lazy dog. '.repeat(20_000); // 200k words
  const error = await client()
    .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] })
    .catch((e) => e);
  expect(error).toBeInstanceOf(InvalidRequestError);
  expect((error as Error).message).toMatch(/at least \d+ tokens/);
  expect(server.received).toHaveLength(0);
});

test('field checks need no tokenizer', async () => {
  const error = await client()
    .chat.completions.create({ model: 'gpt-4o-mini', messages: [] })
    .catch((e) => e);
  expect(error).toBeInstanceOf(InvalidRequestError);
  expect(server.received).toHaveLength(0);
});
