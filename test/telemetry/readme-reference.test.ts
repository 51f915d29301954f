/**
 * The README's telemetry reference is what is exported, name for name: the
 * operation-span and attempt-span attribute tables and the metrics table are
 * parsed, calls covering every row are made against a loopback server, and the
 * sets must match both ways. A few names need conditions this test cannot
 * produce (a Redis fleet, a spent retry budget): they are listed, and each
 * must still be in the README.
 */
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { instrument } from '../../src/index.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry } from '../helpers/otel.ts';
import { chatCompletion, quotaExhausted, rateLimited, ScriptedServer } from '../helpers/scripted-server.ts';

/** Names whose conditions this test does not set up, and where they are tested instead. */
const NOT_PRODUCED_HERE: Record<string, string> = {
  'retryscope.quota_exhausted.from_fleet': 'needs a Redis fleet (test/openai/fleet.test.ts)',
  'retryscope.retry_budget.exhausted': 'needs a spent retry budget (test/openai/pacing.test.ts)',
  'retryscope.client.limiter.store_fallbacks':
    'needs a Redis that does not answer (test/openai/redis.test.ts)',
};

/** Backticked names in the first cell of each table row of one `###` section; `…x` continues the previous name. */
function tableNames(readme: string, heading: string): Set<string> {
  const start = readme.indexOf(`### ${heading}`);
  expect(start, heading).toBeGreaterThan(-1);
  const end = readme.indexOf('\n#', start + 4);
  const rows = readme
    .slice(start, end)
    .split('\n')
    .filter((l) => l.startsWith('| `'));
  const names = new Set<string>();
  for (const row of rows) {
    const cell = row.split('|')[1]!;
    let previous = '';
    for (const [, raw] of cell.matchAll(/`([^`]+)`/g)) {
      const name = raw!.startsWith('…')
        ? previous.slice(0, previous.lastIndexOf('.') + 1) + raw!.slice(1)
        : raw!;
      names.add(name);
      previous = name;
    }
  }
  return names;
}

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const reference = {
  operation: tableNames(readme, 'Operation span'),
  attempt: tableNames(readme, 'Attempt spans'),
  metrics: tableNames(readme, 'Metrics'),
};

let server: ScriptedServer;
const t = createTestTelemetry();
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());

const messages = [{ role: 'user' as const, content: 'hi' }];
const chunk = (extra: object) => ({
  id: 'chatcmpl-s',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o-mini',
  system_fingerprint: 'fp_1',
  service_tier: 'default',
  ...extra,
});

/** Calls that between them exercise every row of the tables. */
async function coverEveryRow(): Promise<void> {
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test-readme-ref-0000' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock().clock,
    captureContent: true,
    // Its gauges are recorded after every call a budget applies to.
    budget: { usd: 1000, per: 'month' },
    tagKeys: ['feature'],
    tags: { feature: 'readme' },
    deadlineMs: 60_000,
    // `tiny` cannot take the long prompt below: that hop is skipped unsent.
    fallbacks: [{ model: 'tiny' }, { model: 'gpt-4o' }],
    validate: { contextWindows: { tiny: 50 } },
  });
  // A retried chat call with every request parameter, answered by a fine-tune: no built-in price (unpriced).
  server.reply(rateLimited(1), {
    json: {
      ...chatCompletion('ok'),
      model: 'ft:gpt-4o-mini-2024-07-18:acme::1',
      service_tier: 'default',
      system_fingerprint: 'fp_1',
    },
  });
  await openai.chat.completions.create({
    model: 'gpt-4o-mini',
    messages,
    temperature: 0.5,
    top_p: 1,
    max_tokens: 10,
    frequency_penalty: 0,
    presence_penalty: 0,
    stop: ['x'],
    seed: 1,
    n: 2,
    response_format: { type: 'json_object' },
    service_tier: 'flex',
  });
  // A stream.
  server.reply({ sse: [chunk({ choices: [{ index: 0, delta: { content: 'a' }, finish_reason: 'stop' }] })] });
  for await (const _ of await openai.chat.completions.create({
    model: 'gpt-4o-mini',
    messages,
    stream: true,
  }));
  // A stream cut after a chunk, with no usage report: its output is only estimated.
  server.reply({
    sse: [
      chunk({ choices: [{ index: 0, delta: { content: 'a' }, finish_reason: null }] }),
      { error: { message: 'boom', type: 'server_error', code: 'server_error' } },
    ],
  });
  await (async () => {
    for await (const _ of await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      stream: true,
    }));
  })().catch(() => {});
  // Responses, with instructions, a conversation and a previous response.
  server.reply({
    json: {
      id: 'resp_1',
      object: 'response',
      created_at: 1,
      // A priced model, with cached-input, cache-write and reasoning detail.
      model: 'o3',
      status: 'completed',
      output: [],
      usage: {
        input_tokens: 4,
        input_tokens_details: { cached_tokens: 2, cache_write_tokens: 1 },
        output_tokens: 3,
        output_tokens_details: { reasoning_tokens: 1 },
        total_tokens: 7,
      },
    },
  });
  await openai.responses.create({
    model: 'gpt-4o-mini',
    input: 'hi',
    instructions: 'Be brief.',
    conversation: 'conv_1',
    previous_response_id: 'resp_0',
  });
  // The primary fails for good; the fallback serves.
  server.replyWith((r) =>
    (r.body as { model?: string }).model === 'gpt-4o'
      ? { json: chatCompletion('ok', 'gpt-4o') }
      : quotaExhausted(),
  );
  await openai.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'word '.repeat(300) }],
  });
  // A failure with no fallback left.
  server.reply(quotaExhausted());
  await instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test-readme-ref-0001' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock().clock,
  })
    .chat.completions.create({ model: 'gpt-4o-mini', messages })
    .catch(() => {});
}

test('the README telemetry tables match the exported names, both ways', async () => {
  await coverEveryRow();
  const spans = await t.spans();
  // Tag attributes are documented once, as `retryscope.tag.<key>`.
  const named = (key: string) => (key.startsWith('retryscope.tag.') ? 'retryscope.tag.<key>' : key);
  const keys = (filter: (a: Record<string, unknown>) => boolean) =>
    new Set(spans.filter((s) => filter(s.attributes)).flatMap((s) => Object.keys(s.attributes).map(named)));
  const exported = {
    // The operation table lists its span events too.
    operation: new Set([
      ...keys((a) => a['retryscope.outcome'] !== undefined),
      ...spans
        .filter((s) => s.attributes['retryscope.outcome'] !== undefined)
        .flatMap((s) => s.events.map((e) => e.name)),
    ]),
    attempt: keys((a) => a['retryscope.attempt'] !== undefined),
    metrics: new Set((await t.metrics()).filter((m) => m.dataPoints.length).map((m) => m.descriptor.name)),
  };
  const excused = new Set(Object.keys(NOT_PRODUCED_HERE));
  for (const kind of ['operation', 'attempt', 'metrics'] as const) {
    const documented = [...reference[kind]];
    const missingFromReadme = [...exported[kind]].filter((n) => !reference[kind].has(n)).sort();
    const notExported = documented.filter((n) => !exported[kind].has(n) && !excused.has(n)).sort();
    expect({ kind, missingFromReadme, notExported }).toEqual({
      kind,
      missingFromReadme: [],
      notExported: [],
    });
  }
  // Each span event's attributes, as its row's second column lists them (names before a type in parentheses).
  for (const row of readme.split('\n').filter((l) => l.startsWith('| `retryscope.hop_skipped`'))) {
    const documented = [...row.split('|')[2]!.matchAll(/`([^`]+)` \(/g)].map((m) => m[1]).sort();
    const event = spans.flatMap((sp) => sp.events).find((e) => e.name === 'retryscope.hop_skipped');
    expect(Object.keys(event?.attributes ?? {}).sort()).toEqual(documented);
  }
  const everywhere = new Set([...reference.operation, ...reference.attempt, ...reference.metrics]);
  for (const name of excused) expect(everywhere.has(name), name).toBe(true);
});

test('opted in to the latest GenAI naming, the README opt-in table is what is exported, name for name', async () => {
  const optedIn = tableNames(readme, 'The renamed GenAI metrics');
  expect(optedIn.size).toBeGreaterThan(0);
  const own = createTestTelemetry();
  const before = process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
  process.env.OTEL_SEMCONV_STABILITY_OPT_IN = 'http,gen_ai_latest_experimental';
  try {
    // The variable is read when instrument() makes the client.
    const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test-readme-ref-0002' }), {
      tracerProvider: own.tracerProvider,
      meterProvider: own.meterProvider,
      clock: fakeClock().clock,
    });
    server.reply({ json: chatCompletion('ok') });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
  } finally {
    if (before === undefined) delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
    else process.env.OTEL_SEMCONV_STABILITY_OPT_IN = before;
  }
  const genAi = (await own.metrics())
    .filter((m) => m.dataPoints.length && m.descriptor.name.startsWith('gen_ai.'))
    .map((m) => m.descriptor.name)
    .sort();
  expect(genAi).toEqual([...optedIn].sort());
});
