/**
 * The `openai` each vitest project runs the SDK suites against, as seen from
 * the sources (the alias reaches `openai` and its subpaths): the oldest of the
 * peer range in project `openai-oldest`, the newest (the devDependency)
 * otherwise. Fails if the alias stops applying or a version drifts out of range.
 */
import { readFileSync } from 'node:fs';
import OpenAI, { AzureOpenAI } from 'openai';
import { VERSION } from 'openai/version';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { instrument } from '../../src/index.ts';
import { chatCompletion, ScriptedServer } from '../helpers/scripted-server.ts';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const underTest = process.env.RETRYSCOPE_OPENAI_UNDER_TEST ?? 'openai';

test(`the sources get the ${underTest} version of openai`, () => {
  const floor = String(pkg.peerDependencies.openai).replace(/^\^/, '');
  if (underTest === 'openai-oldest') {
    expect(pkg.devDependencies['openai-oldest']).toBe(`npm:openai@${floor}`);
    expect(VERSION).toBe(floor);
  } else {
    expect(VERSION).toBe(pkg.devDependencies.openai);
  }
});

let server: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());

test('an instrumented OpenAI client of that version works', async () => {
  const client = instrument(new OpenAI({ apiKey: 'sk-test', baseURL: server.url }));
  expect(client).toBeInstanceOf(OpenAI);
  server.reply({ json: chatCompletion('hi there') });
  const reply = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }],
  });
  expect(reply.choices[0]?.message.content).toBe('hi there');
});

test('an instrumented AzureOpenAI keeps its apiVersion and deployment (openai < 7.12.1 dropped them)', async () => {
  const azure = instrument(
    new AzureOpenAI({
      apiKey: 'azure-key',
      endpoint: new URL(server.url).origin,
      apiVersion: '2024-10-21',
      deployment: 'my-deployment',
    }),
  );
  expect(azure).toBeInstanceOf(AzureOpenAI);
  server.reply({ json: chatCompletion('from azure') });
  const reply = await azure.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }],
  });
  expect(reply.choices[0]?.message.content).toBe('from azure');
  expect(server.received.map((r) => r.url)).toEqual([
    '/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21',
  ]);
  expect(server.received[0]?.headers['api-key']).toBe('azure-key');
});
