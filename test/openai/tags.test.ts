/** Attribution tags through a real loopback server: from baggage and from code, allow-listed, capped. */
import { type Baggage, context, propagation } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { describe, expect, test } from 'vitest';
import {
  BudgetExceededError,
  RetryscopeConfigError,
  type RetryscopeOptions,
  withRetryOptions,
} from '../../src/index.ts';
import * as A from '../../src/telemetry/attributes.ts';
import { createTestTelemetry, sumWhere } from '../helpers/otel.ts';
import { scriptedClients } from '../helpers/scripted-client.ts';
import { chatCompletion } from '../helpers/scripted-server.ts';

const scripted = scriptedClients({}, 'sk-scripted-tags-0123456789');
const { t, client } = scripted;
const messages = [{ role: 'user' as const, content: 'hi' }];

type Client = ReturnType<typeof client>;
const ask = (c: Client) => c.chat.completions.create({ model: 'gpt-4o-mini', messages });

/** Runs `fn` with these baggage entries active, as an upstream service's propagated baggage would be. */
function withBaggage<T>(entries: Record<string, string>, fn: () => T): T {
  const baggage = propagation.createBaggage(
    Object.fromEntries(Object.entries(entries).map(([k, value]) => [k, { value }])),
  );
  return context.with(propagation.setBaggage(context.active(), baggage), fn);
}

/** Each operation span's tag attributes, in the order the calls ended. */
async function tagsOf(): Promise<Record<string, unknown>[]> {
  const spans = (await t.spans()).filter((s: ReadableSpan) => s.attributes[A.ATTR_OUTCOME] !== undefined);
  return spans.map((s) =>
    Object.fromEntries(Object.entries(s.attributes).filter(([k]) => k.startsWith(A.ATTR_TAG_PREFIX))),
  );
}

describe('attribution tags', () => {
  test('a baggage entry whose key is allow-listed is on the operation span; one outside the list is not', async () => {
    scripted.server.reply({ json: chatCompletion('ok') });
    const c = client({ tagKeys: ['tenant'] });
    await withBaggage({ tenant: 'acme', user: 'u-42' }, () => ask(c));
    expect(await tagsOf()).toEqual([{ 'retryscope.tag.tenant': 'acme' }]);
    // Not on the attempt spans, nor on the duration histogram (cardinality).
    const attempt = (await t.spans()).find((s) => s.attributes[A.ATTR_ATTEMPT] !== undefined)!;
    expect(Object.keys(attempt.attributes).filter((k) => k.startsWith(A.ATTR_TAG_PREFIX))).toEqual([]);
    const points = await t.metric(A.METRIC_OPERATION_DURATION);
    expect(points.length).toBeGreaterThan(0);
    for (const p of points)
      expect(Object.keys(p.attributes).some((k) => k.startsWith(A.ATTR_TAG_PREFIX))).toBe(false);
  });

  test('the cost and token counters carry the tags; a value holding the API key is _OTHER there too', async () => {
    scripted.server.reply({ json: chatCompletion('ok') });
    const prices = { 'gpt-4o-mini': { input: 1, output: 2 } };
    // Its own meter: counters are cumulative, and this file's other calls are on the shared one.
    const own = createTestTelemetry();
    const c = client({
      tagKeys: ['feature', 'tenant'],
      tags: { feature: 'search' },
      prices,
      tracerProvider: own.tracerProvider,
      meterProvider: own.meterProvider,
    });
    await withBaggage({ tenant: 'acme' }, () => ask(c));
    await withBaggage({ tenant: 'sk-scripted-tags-0123456789' }, () => ask(c));
    for (const name of [A.METRIC_COST, A.METRIC_TOKENS]) {
      const points = await own.metric(name);
      expect(points.length, name).toBeGreaterThan(0);
      const tenants = points.map((p) => p.attributes['retryscope.tag.tenant']).sort();
      expect(new Set(tenants), name).toEqual(new Set(['acme', A.OTHER]));
      for (const p of points) expect(p.attributes['retryscope.tag.feature'], name).toBe('search');
    }
    expect(sumWhere(await own.metric(A.METRIC_COST), { 'retryscope.tag.tenant': 'acme' })).toBeCloseTo(
      (7 + 3 * 2) / 1e6,
    );
  });

  test('a per-tag budget is kept by the tag value baggage brings', async () => {
    scripted.server.reply({ json: chatCompletion('ok') });
    // $1 per token: the scripted answer's 10 tokens cost $10.
    const prices = { 'gpt-4o-mini': { input: 1e6, output: 1e6 } };
    const c = client({ tagKeys: ['tenant'], prices, budget: { usd: 10, per: 'day', tag: 'tenant' } });
    await withBaggage({ tenant: 'acme' }, () => ask(c));
    await expect(withBaggage({ tenant: 'acme' }, () => ask(c))).rejects.toBeInstanceOf(BudgetExceededError);
    await withBaggage({ tenant: 'zeta' }, () => ask(c));
    expect(scripted.server.received).toHaveLength(2);
  });

  test('without tagKeys, baggage records nothing', async () => {
    scripted.server.reply({ json: chatCompletion('ok') });
    await withBaggage({ tenant: 'acme' }, () => ask(client()));
    expect(await tagsOf()).toEqual([{}]);
  });

  test('a tag set in code beats the same key from baggage', async () => {
    scripted.server.reply({ json: chatCompletion('ok') });
    const c = client({ tagKeys: ['feature', 'tenant'], tags: { feature: 'search' } });
    await withBaggage({ feature: 'spoofed', tenant: 'acme' }, () => ask(c));
    expect(await tagsOf()).toEqual([{ 'retryscope.tag.feature': 'search', 'retryscope.tag.tenant': 'acme' }]);
  });

  test("withRetryOptions merges its tags over the client's, and undefined removes one", async () => {
    scripted.server.reply({ json: chatCompletion('ok') });
    const base = client({ tagKeys: ['feature', 'tenant'], tags: { feature: 'chat', tenant: 'acme' } });
    await ask(withRetryOptions(base, { tags: { feature: 'summaries' } }));
    await ask(withRetryOptions(base, { tags: { tenant: undefined } }));
    await ask(base);
    expect(await tagsOf()).toEqual([
      { 'retryscope.tag.feature': 'summaries', 'retryscope.tag.tenant': 'acme' },
      { 'retryscope.tag.feature': 'chat' },
      { 'retryscope.tag.feature': 'chat', 'retryscope.tag.tenant': 'acme' },
    ]);
  });

  test('past maxTagValues distinct values, new ones are _OTHER, counted across withRetryOptions and withOptions siblings', async () => {
    scripted.server.reply({ json: chatCompletion('ok') });
    const base = client({ tagKeys: ['tenant'], maxTagValues: 2 });
    const sibling = withRetryOptions(base, { maxAttempts: 2 }).withOptions({ timeout: 5_000 });
    for (const [c, tenant] of [
      [base, 'a'],
      [sibling, 'b'],
      [base, 'c'],
      [sibling, 'a'],
      [sibling, 'd'],
    ] as const) {
      await withBaggage({ tenant }, () => ask(c));
    }
    expect((await tagsOf()).map((tags) => tags['retryscope.tag.tenant'])).toEqual([
      'a',
      'b',
      A.OTHER,
      'a',
      A.OTHER,
    ]);
    // A client instrumented on its own keeps its own count.
    await withBaggage({ tenant: 'c' }, () => ask(client({ tagKeys: ['tenant'], maxTagValues: 2 })));
    expect((await tagsOf()).at(-1)).toEqual({ 'retryscope.tag.tenant': 'c' });
  });

  test('a baggage value is cleaned of control characters and cut to a bounded length', async () => {
    scripted.server.reply({ json: chatCompletion('ok') });
    await withBaggage({ tenant: `\u001b[2Jacme${'x'.repeat(300)}` }, () =>
      ask(client({ tagKeys: ['tenant'] })),
    );
    const [tags] = await tagsOf();
    const value = String(tags!['retryscope.tag.tenant']);
    expect(value.startsWith('[2Jacmex')).toBe(true);
    expect(value.length).toBe(64);
  });

  test('a baggage that throws when read costs the call nothing: it is served, with the code-set tags', async () => {
    scripted.server.reply({ json: chatCompletion('ok') });
    const hostile = {
      getAllEntries: () => {
        throw new Error('baggage exploded');
      },
    } as unknown as Baggage;
    const c = client({ tagKeys: ['feature'], tags: { feature: 'search' } });
    const result = await context.with(propagation.setBaggage(context.active(), hostile), () => ask(c));
    expect(result.choices[0]!.message.content).toBe('ok');
    expect(await tagsOf()).toEqual([{ 'retryscope.tag.feature': 'search' }]);
  });

  test('a tag value holding the API key is recorded as _OTHER', async () => {
    scripted.server.reply({ json: chatCompletion('ok') });
    await withBaggage({ tenant: 'sk-scripted-tags-0123456789' }, () => ask(client({ tagKeys: ['tenant'] })));
    expect(await tagsOf()).toEqual([{ 'retryscope.tag.tenant': A.OTHER }]);
  });

  const refused = (options: RetryscopeOptions): string => {
    try {
      client(options);
    } catch (error) {
      expect(error).toBeInstanceOf(RetryscopeConfigError);
      return (error as Error).message;
    }
    throw new Error('not refused');
  };

  test.each([
    [{ tags: { tenant: 'acme' } }, /option "tags.tenant" is not in tagKeys: add "tenant" to tagKeys/],
    [{ tagKeys: ['feature'], tags: { tenant: 'acme' } }, /"tags.tenant" is not in tagKeys/],
    [
      { tagKeys: ['Tenant'] },
      /option "tagKeys\[0\]" must match .* \(a valid Prometheus label suffix\) \(got "Tenant"\)/,
    ],
    [{ tagKeys: ['tenant.id'] }, /"tagKeys\[0\]" must match/],
    [{ tagKeys: 'tenant' as never }, /"tagKeys" must be an array of tag keys/],
    [
      { tagKeys: ['tenant'], tags: { tenant: 42 as never } },
      /"tags.tenant" must be a string \(or undefined to remove it\) \(got number\)/,
    ],
    [{ tags: ['acme'] as never }, /"tags" must map tag keys to string values/],
    [{ maxTagValues: 0 }, /"maxTagValues" must be an integer >= 1 \(got 0\)/],
    [{ maxTagValues: 2.5 }, /"maxTagValues" must be an integer/],
  ] as [RetryscopeOptions, RegExp][])('bad tag options are refused: %j', (options, message) => {
    expect(refused(options)).toMatch(message);
  });

  test('withRetryOptions checks tags against the merged allow-list', () => {
    const base = client({ tagKeys: ['tenant'], tags: { tenant: 'acme' } });
    expect(() => withRetryOptions(base, { tags: { feature: 'x' } })).toThrow(
      /"tags.feature" is not in tagKeys/,
    );
    expect(() => withRetryOptions(base, { tagKeys: ['feature'] })).toThrow(/"tags.tenant" is not in tagKeys/);
    expect(() =>
      withRetryOptions(base, { tagKeys: ['feature', 'tenant'], tags: { feature: 'x' } }),
    ).not.toThrow();
  });
});
