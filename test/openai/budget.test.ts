import OpenAI from 'openai';
import { beforeEach, describe, expect, test } from 'vitest';
import {
  BudgetExceededError,
  getAttemptHistory,
  RetryscopeConfigError,
  type RetryscopeOptions,
  servedByFallback,
  withRetryOptions,
} from '../../src/index.ts';
import { flatPrices } from '../helpers/budget-cost.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry } from '../helpers/otel.ts';
import { scriptedClients } from '../helpers/scripted-client.ts';
import { chatCompletion } from '../helpers/scripted-server.ts';

const scripted = scriptedClients({}, 'sk-budget-test-key-000');
const t = scripted.t;
// $0.10 a token: the scripted answer's 10 tokens make $1 a call.
beforeEach(() => {
  scripted.server.reply({ json: chatCompletion() });
});

const messages = [{ role: 'user' as const, content: 'hi' }];
const body = { model: 'gpt-4o', messages };

const client = (options: RetryscopeOptions, clock = fakeClock(Date.UTC(2026, 5, 15, 10)).clock) =>
  scripted.client({ clock, ...flatPrices(0.1), ...options });

async function operationSpans() {
  return (await t.spans()).filter((s) => s.attributes['retryscope.outcome'] !== undefined);
}

async function gauge(name: string, where: Record<string, unknown> = {}) {
  const points = await t.metric(name);
  return points.find((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))?.value;
}

describe('spend budgets', () => {
  test('a spent budget refuses the call with BudgetExceededError before anything is sent', async () => {
    const openai = client({ budget: { usd: 2, per: 'day' } });
    await openai.chat.completions.create(body);
    await openai.chat.completions.create(body);
    expect(scripted.server.received).toHaveLength(2);
    const error = await openai.chat.completions.create(body).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const e = error as BudgetExceededError;
    expect(e.budget).toMatchObject({
      per: 'day',
      limitUsd: 2,
      spentUsd: 2,
      resetsAtMs: Date.UTC(2026, 5, 16),
    });
    expect(e.message).toContain('spend budget of $2 per day (UTC) is spent ($2.00 so far)');
    expect(e.message).toContain('resets at 2026-06-16T00:00:00.000Z');
    expect(e.message).not.toContain('sk-budget');
    expect(getAttemptHistory(e)).toMatchObject({ outcome: 'budget_exceeded', attempts: 0 });
    // Zero requests reached the server, and no attempt span was made.
    expect(scripted.server.received).toHaveLength(2);
    const all = await t.spans();
    const refused = all.find((s) => s.attributes['retryscope.outcome'] === 'budget_exceeded')!;
    expect(refused.attributes['retryscope.attempts']).toBe(0);
    expect(all.filter((s) => s.parentSpanContext?.spanId === refused.spanContext().spanId)).toEqual([]);
    // The refused call records the budget as it stands: used up.
    expect(await gauge('retryscope.client.budget.used', { 'retryscope.budget.period': 'day' })).toBe(1);
  });

  test('the soft limit shows in the gauges before the budget refuses', async () => {
    const openai = client({ budget: { usd: 5, per: 'hour', softLimit: 0.5 } });
    for (let i = 0; i < 3; i++) await openai.chat.completions.create(body);
    const at = { 'retryscope.budget.period': 'hour' };
    expect(await gauge('retryscope.client.budget.used', at)).toBeCloseTo(0.6);
    expect(await gauge('retryscope.client.budget.soft_limit', at)).toBe(0.5);
    expect(await gauge('retryscope.client.budget.limit', at)).toBe(5);
    // Past the soft limit, calls still go out.
    expect(scripted.server.received).toHaveLength(3);
    const metrics = await t.metrics();
    const units = Object.fromEntries(metrics.map((m) => [m.descriptor.name, m.descriptor.unit]));
    expect(units['retryscope.client.budget.limit']).toBe('{USD}');
    expect(units['retryscope.client.budget.used']).toBe('1');
  });

  test('fallbackOn: budget_exceeded sends the call to the fallback, whose spend still counts', async () => {
    const openai = client({
      budget: { usd: 1, per: 'day' },
      fallbacks: [{ model: 'gpt-4o-mini' }],
      fallbackOn: ['budget_exceeded'],
    });
    await openai.chat.completions.create(body);
    const r = await openai.chat.completions.create(body);
    expect(servedByFallback(r)).toMatchObject({
      fallbackIndex: 1,
      reason: 'budget_exceeded',
      model: 'gpt-4o-mini',
    });
    expect(scripted.server.received.map((q) => (q.body as { model: string }).model)).toEqual([
      'gpt-4o',
      'gpt-4o-mini',
    ]);
    const op = (await operationSpans()).at(-1)!;
    expect(op.attributes['retryscope.outcome']).toBe('fallback');
    expect(op.attributes['retryscope.fallback_reason']).toBe('budget_exceeded');
    expect(await gauge('retryscope.client.budget.used')).toBe(2);
  });

  test('degrade answers a call its budget refused', async () => {
    const openai = client({
      budget: { usd: 1, per: 'month' },
      fallbackOn: ['budget_exceeded'],
      degrade: ({ outcome }) => chatCompletion(`degraded: ${outcome}`),
    });
    await openai.chat.completions.create(body);
    const r = await openai.chat.completions.create(body);
    expect(r.choices[0]!.message.content).toBe('degraded: budget_exceeded');
    expect(scripted.server.received).toHaveLength(1);
  });

  test('without budget_exceeded in fallbackOn (the default), the fallbacks are not tried', async () => {
    const openai = client({ budget: { usd: 1, per: 'day' }, fallbacks: [{ model: 'gpt-4o-mini' }] });
    await openai.chat.completions.create(body);
    await expect(openai.chat.completions.create(body)).rejects.toBeInstanceOf(BudgetExceededError);
    expect(scripted.server.received).toHaveLength(1);
  });

  test('per-tag budgets: each value of the tag has its own budget; a call without the tag is not under it', async () => {
    const openai = client({ tagKeys: ['tenant'], budget: [{ usd: 1, per: 'day', tag: 'tenant' }] });
    // The call's own tags, as the tags part resolves them: set in code here.
    const acme = withRetryOptions(openai, { tags: { tenant: 'acme' } });
    await acme.chat.completions.create(body);
    const error = await acme.chat.completions.create(body).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect((error as BudgetExceededError).message).toContain('for this call\'s value of tag "tenant"');
    // The value is the caller's own data: it is not in the error.
    expect((error as BudgetExceededError).message).not.toContain('acme');
    await withRetryOptions(openai, { tags: { tenant: 'zeta' } }).chat.completions.create(body);
    await openai.chat.completions.create(body);
    await openai.chat.completions.create(body);
    expect(scripted.server.received).toHaveLength(4);
    const acmeGauge = { 'retryscope.budget.tag': 'tenant', 'retryscope.tag.tenant': 'acme' };
    expect(await gauge('retryscope.client.budget.used', acmeGauge)).toBe(1);
    expect(await gauge('retryscope.client.budget.used', { 'retryscope.tag.tenant': 'zeta' })).toBe(1);
  });

  test('a tenant past maxTagValues keeps a budget of its own: the cap bounds labels, not budgets', async () => {
    // Its own meter: other tests' clients keep reporting their budgets' series.
    const own = createTestTelemetry();
    const openai = client({
      meterProvider: own.meterProvider,
      tagKeys: ['tenant'],
      maxTagValues: 1,
      budget: [{ usd: 2, per: 'day', tag: 'tenant' }],
    });
    const as = (tenant: string) =>
      withRetryOptions(openai, { tags: { tenant } }).chat.completions.create(body);
    await as('a');
    await as('b'); // recorded as _OTHER, budgeted as b
    await as('b'); // b's $2 is spent
    await as('c'); // never spent: not refused for b's spend
    expect(scripted.server.received).toHaveLength(4);
    // Gauge labels stay bounded: a, and one _OTHER series for the rest.
    const points = await own.metric('retryscope.client.budget.used');
    const tenants = points.map((p) => p.attributes['retryscope.tag.tenant']);
    expect(new Set(tenants)).toEqual(new Set(['a', '_OTHER']));
    // The shared series shows the most spent of its tenants (b, spent), not the last charged (c, half).
    expect(points.find((p) => p.attributes['retryscope.tag.tenant'] === '_OTHER')?.value).toBe(1);
    await expect(as('b')).rejects.toBeInstanceOf(BudgetExceededError);
  });

  test('a tag value holding the API key never labels a budget gauge', async () => {
    const own = createTestTelemetry();
    const openai = client({
      meterProvider: own.meterProvider,
      tagKeys: ['tenant'],
      budget: [{ usd: 5, per: 'day', tag: 'tenant' }],
    });
    await withRetryOptions(openai, { tags: { tenant: 'x-sk-budget-test-key-000' } }).chat.completions.create(
      body,
    );
    const points = await own.metric('retryscope.client.budget.used');
    expect(points).toHaveLength(1);
    expect(points[0]!.attributes['retryscope.tag.tenant']).toBe('_OTHER');
    expect(JSON.stringify(points)).not.toContain('sk-budget');
  });

  test('a client-wide and a per-tag budget: the first spent refuses', async () => {
    const openai = client({
      tagKeys: ['feature'],
      budget: [
        { usd: 10, per: 'day' },
        { usd: 2, per: 'hour', tag: 'feature' },
      ],
    });
    const search = withRetryOptions(openai, { tags: { feature: 'search' } });
    await search.chat.completions.create(body);
    await search.chat.completions.create(body);
    await expect(search.chat.completions.create(body)).rejects.toMatchObject({
      budget: { per: 'hour', tag: 'feature', limitUsd: 2 },
    });
    await withRetryOptions(openai, { tags: { feature: 'chat' } }).chat.completions.create(body);
    expect(await gauge('retryscope.client.budget.used', { 'retryscope.budget.period': 'day' })).toBeCloseTo(
      0.3,
    );
  });

  test('a new period (UTC) allows calls again', async () => {
    const clock = fakeClock(Date.UTC(2026, 5, 15, 23, 30));
    const openai = client({ budget: { usd: 1, per: 'day' } }, clock.clock);
    await openai.chat.completions.create(body);
    await expect(openai.chat.completions.create(body)).rejects.toBeInstanceOf(BudgetExceededError);
    clock.advance(29 * 60_000);
    await expect(openai.chat.completions.create(body)).rejects.toBeInstanceOf(BudgetExceededError);
    expect(await gauge('retryscope.client.budget.used')).toBe(1);
    clock.advance(60_000);
    // Midnight with no call since: the gauge reads the new day's spend (none), so no alert fires on.
    expect(await gauge('retryscope.client.budget.used')).toBe(0);
    expect(await gauge('retryscope.client.budget.limit')).toBe(1);
    await openai.chat.completions.create(body);
    expect(scripted.server.received).toHaveLength(2);
    expect(await gauge('retryscope.client.budget.used')).toBe(1);
  });

  test('a call that would not spend is never refused: a poll, a list, a retrieve', async () => {
    const openai = client({ budget: { usd: 1, per: 'day' } });
    await openai.chat.completions.create(body);
    // The scripted server resets its log with each script: count what reached it per script.
    scripted.server.reply({ json: { object: 'list', data: [] } });
    await openai.models.list();
    expect(scripted.server.received).toHaveLength(1);
    scripted.server.reply({ json: { id: 'resp_1', object: 'response', status: 'completed', output: [] } });
    await openai.responses.retrieve('resp_1');
    expect(scripted.server.received).toHaveLength(1);
    scripted.server.reply({ json: chatCompletion() });
    await expect(openai.chat.completions.create(body)).rejects.toBeInstanceOf(BudgetExceededError);
    expect(scripted.server.received).toHaveLength(0);
  });

  test('withRetryOptions siblings share the spend; budget: false turns budgets off', async () => {
    const { withRetryOptions } = await import('../../src/index.ts');
    const openai = client({ budget: { usd: 1, per: 'day' } });
    await openai.chat.completions.create(body);
    await expect(
      withRetryOptions(openai, { deadlineMs: 5000 }).chat.completions.create(body),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    await withRetryOptions(openai, { budget: false }).chat.completions.create(body);
    expect(scripted.server.received).toHaveLength(2);
  });
});

describe('budget options', () => {
  const bad: [unknown, RegExp][] = [
    [{ usd: 0, per: 'day' }, /"budget.usd" must be a finite number > 0 \(got 0\)/],
    [{ usd: Number.POSITIVE_INFINITY, per: 'day' }, /"budget.usd" must be a finite number/],
    [{ usd: 5, per: 'week' }, /"budget.per" must be one of hour, day, month \(got "week"\)/],
    [{ per: 'day' }, /"budget.usd" is required/],
    [{ usd: 5 }, /"budget.per" is required/],
    [{ usd: 5, per: 'day', softLimit: 0 }, /"budget.softLimit" must be a finite number > 0 and <= 1/],
    [{ usd: 5, per: 'day', softLimit: 1.5 }, /"budget.softLimit"/],
    [{ usd: 5, per: 'day', tag: 'Tenant Id' }, /"budget.tag" must be a tag key/],
    [{ usd: 5, per: 'day', tag: 'tenant' }, /"budget.tag" is not in tagKeys: add "tenant" to tagKeys/],
    [
      [
        { usd: 5, per: 'day' },
        { usd: 1, per: 'day', tag: 'tenant' },
      ],
      /"budget\[1\].tag" is not in tagKeys/,
    ],
    [{ usd: 5, per: 'day', limit: 3 }, /"budget.limit" is not an option/],
    [
      [
        { usd: 5, per: 'day' },
        { usd: 9, per: 'day' },
      ],
      /"budget\[1\]" repeats another budget's per and tag/,
    ],
    [[{ usd: 5, per: 'day' }, 'x'], /"budget\[1\]" must be an object/],
    [50, /"budget" must be an object/],
  ];
  test.each(bad)('%j is refused with RetryscopeConfigError', (budget, message) => {
    const make = () => client({ budget: budget as RetryscopeOptions['budget'] });
    expect(make).toThrow(RetryscopeConfigError);
    expect(make).toThrow(message);
  });

  test('good settings are taken', () => {
    client({ budget: { usd: 50, per: 'day' } });
    client({
      tagKeys: ['tenant'],
      budget: [
        { usd: 0.5, per: 'hour', softLimit: 1 },
        { usd: 5, per: 'hour', tag: 'tenant' },
      ],
    });
    client({ budget: false });
    expect(() => client({ fallbackOn: ['budget_exceeded'] })).not.toThrow();
  });
});
