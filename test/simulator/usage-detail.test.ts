/**
 * The simulator's usage detail and service tier: half of each prompt cached,
 * half the output of reasoning models (`o*`, `gpt-5*`) reasoning, the tier
 * asked echoed when it is flex, priority or default; streamed as not.
 */
import { expect, test } from 'vitest';
import { validateScenario } from '../../src/simulator/index.ts';
import { client, simulator } from './helpers.ts';

const messages = [{ role: 'user' as const, content: 'A prompt long enough to have a few tokens in it.' }];

test('chat: cached half the prompt; reasoning only for reasoning models; tier echoed or default', async () => {
  const openai = client(await simulator({ scenario: { name: 'u', phases: [{ name: 'p' }] } }));
  for (const [model, reasons] of [
    ['gpt-4o-mini', false],
    ['o4-mini', true],
    ['gpt-5', true],
  ] as const) {
    const r = await openai.chat.completions.create({ model, messages, service_tier: 'priority' });
    const u = r.usage!;
    expect(u.prompt_tokens_details!.cached_tokens).toBe(Math.floor(u.prompt_tokens / 2));
    expect(u.completion_tokens_details!.reasoning_tokens).toBe(
      reasons ? Math.floor(u.completion_tokens / 2) : 0,
    );
    expect(r.service_tier).toBe('priority');
  }
  expect(
    (await openai.chat.completions.create({ model: 'o3', messages, service_tier: 'auto' })).service_tier,
  ).toBe('default');
  expect((await openai.chat.completions.create({ model: 'o3', messages })).service_tier).toBe('default');
});

test('streams say the same: chat with include_usage, Responses on response.completed', async () => {
  const openai = client(
    await simulator({ scenario: { name: 'u', streamChunkDelayMs: 0, phases: [{ name: 'p' }] } }),
  );
  const chat = await openai.chat.completions.create({
    model: 'o3',
    messages,
    stream: true,
    stream_options: { include_usage: true },
    service_tier: 'flex',
  });
  const tiers = new Set<string | null | undefined>();
  let usage: { prompt_tokens: number; prompt_tokens_details?: { cached_tokens?: number } } | undefined;
  for await (const c of chat) {
    tiers.add(c.service_tier);
    usage = c.usage ?? usage;
  }
  expect([...tiers]).toEqual(['flex']);
  expect(usage!.prompt_tokens_details!.cached_tokens).toBe(Math.floor(usage!.prompt_tokens / 2));
  const events = await openai.responses.create({
    model: 'o3',
    input: 'hello there',
    stream: true,
    service_tier: 'flex',
  });
  for await (const e of events) {
    if (e.type !== 'response.completed') continue;
    expect(e.response.service_tier).toBe('flex');
    const u = e.response.usage!;
    expect(u.input_tokens_details.cached_tokens).toBe(Math.floor(u.input_tokens / 2));
    expect(u.output_tokens_details.reasoning_tokens).toBe(Math.floor(u.output_tokens / 2));
  }
});

test('embeddings: no details', async () => {
  const openai = client(await simulator({ scenario: { name: 'u', phases: [{ name: 'p' }] } }));
  const r = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hi' });
  expect(r.usage).toEqual({ prompt_tokens: r.usage.prompt_tokens, total_tokens: r.usage.prompt_tokens });
});

test('the scenario’s cachedInputShare sets the cached part (0 to 1; a value outside is refused)', async () => {
  const openai = client(
    await simulator({ scenario: { name: 'u', cachedInputShare: 0, phases: [{ name: 'p' }] } }),
  );
  const r = await openai.chat.completions.create({ model: 'o3', messages });
  expect(r.usage!.prompt_tokens_details!.cached_tokens).toBe(0);
  expect(() => validateScenario({ name: 'u', cachedInputShare: 2, phases: [{ name: 'p' }] })).toThrow(
    /cachedInputShare/,
  );
});
