/**
 * What the "Usage and cost" dashboard and its alerts must show on a demo run,
 * on one engine: registered inside metrics-engine.test.ts's per-engine
 * describe, so they share its one demo feed. Each panel must return data (the
 * feed runs them all); these check that the data is the right data.
 */
import { describe, expect, it } from 'vitest';
import { TOKEN_TYPES } from '../../../src/telemetry/attributes.ts';
import { DEMO_MODELS, DEMO_SERVICE, DEMO_TAG } from './demo-feed.ts';
import type { Sample } from './engine.ts';
import { type Expression, withoutThreshold } from './expressions.ts';

export interface UsageProbe {
  /** A panel target's samples, bound like Grafana would; it must return data. */
  panel(title: string, refId?: string): Promise<Sample[]>;
  /** Any expression on this engine, at the feed's evaluation time. */
  query(expr: string): Promise<Sample[]>;
  rule(name: string): Expression;
}

const labels = (samples: Sample[], label: string) =>
  [...new Set(samples.map((s) => s.metric[label] ?? ''))].sort();
const total = (samples: Sample[]) => samples.reduce((a, s) => a + s.value, 0);
/** A series' labels without its name: what an alert is keyed by. */
const key = (s: Sample) =>
  JSON.stringify(
    Object.entries(s.metric)
      .filter(([k]) => k !== '__name__')
      .sort(),
  );

const ATTEMPT_OUTCOMES = ['success', 'retried', 'failed'];
const BUDGET_PERIODS = ['hour', 'day', 'month'];

export function usageAndCostChecks(probe: UsageProbe): void {
  const { panel, query, rule } = probe;

  /** The rule fires for exactly the series whose signal passes its threshold (`> N` or `>= N`). */
  async function firesExactlyWhere(name: string): Promise<Sample[]> {
    const { expr } = rule(name);
    const signal = withoutThreshold(expr);
    const [, op, n] = /\)\s*(>=?)\s*([\d.]+)$/.exec(expr.trim()) ?? [];
    expect(signal && op && n, `${name}: not a threshold rule`).toBeTruthy();
    const samples = await query(signal!);
    expect(samples.length, `${name}: its signal returned no data`).toBeGreaterThan(0);
    const passes = (v: number) => (op === '>=' ? v >= Number(n) : v > Number(n));
    const over = samples.filter((s) => passes(s.value)).map(key);
    expect((await query(expr)).map(key).sort(), name).toEqual(over.sort());
    return samples;
  }

  describe('usage and cost dashboard', () => {
    it("rate-limit utilization: both kinds for the demo's models, each a share of the limit", async () => {
      const samples = await panel('Rate-limit utilization by model');
      expect(labels(samples, 'retryscope_ratelimit_kind')).toEqual(['requests', 'tokens']);
      const models = labels(samples, 'gen_ai_request_model');
      expect(models).toEqual(expect.arrayContaining(['gpt-4o', 'gpt-4o-mini']));
      for (const m of models) expect(DEMO_MODELS).toContain(m);
      for (const s of samples) {
        expect(s.value).toBeGreaterThanOrEqual(0);
        expect(s.value).toBeLessThanOrEqual(1);
      }
    });

    it('spend per hour: by model, by service and by tag add up to the same spend, from the demo models', async () => {
      const byModel = await panel('Spend per hour by model');
      for (const m of labels(byModel, 'gen_ai_request_model')) expect(DEMO_MODELS).toContain(m);
      for (const s of byModel) expect(s.value).toBeGreaterThanOrEqual(0);
      const spend = total(byModel);
      expect(spend).toBeGreaterThan(0);
      const byService = await panel('Spend per hour by service');
      expect(labels(byService, 'service_name')).toEqual([DEMO_SERVICE]);
      expect(total(byService)).toBeCloseTo(spend, 6);
      const byTag = await panel('Spend per hour by tag');
      const tagLabel = `retryscope_tag_${DEMO_TAG}`;
      // The demo tags its calls by feature: at least one value, and all the spend is there.
      expect(labels(byTag, tagLabel).filter((v) => v !== '').length).toBeGreaterThan(0);
      expect(total(byTag)).toBeCloseTo(spend, 6);
      const byTier = await panel('Spend per hour by service tier and attempt outcome', 'A');
      expect(total(byTier)).toBeCloseTo(spend, 6);
      const byOutcome = await panel('Spend per hour by service tier and attempt outcome', 'B');
      for (const o of labels(byOutcome, 'retryscope_attempt_outcome')) expect(ATTEMPT_OUTCOMES).toContain(o);
      expect(labels(byOutcome, 'retryscope_attempt_outcome')).toContain('success');
      expect(total(byOutcome)).toBeCloseTo(spend, 6);
    });

    it('projected 30-day spend: positive, for the demo service', async () => {
      const samples = await panel('Projected 30-day spend');
      expect(labels(samples, 'service_name')).toEqual([DEMO_SERVICE]);
      expect(samples[0]!.value).toBeGreaterThan(0);
    });

    it('tokens by type: input and output at least, cache_read within input, reasoning within output', async () => {
      const samples = await panel('Tokens/s by type');
      const types = labels(samples, 'retryscope_token_type');
      expect(types).toEqual(expect.arrayContaining(['input', 'output']));
      for (const t of types) expect(TOKEN_TYPES).toContain(t);
      // Over the whole run: the parts OpenAI counts inside input and output never exceed them.
      const of = async (type: string) =>
        total(await query(`sum(retryscope_client_tokens_total{retryscope_token_type="${type}"})`));
      expect(await of('cache_read')).toBeLessThanOrEqual(await of('input'));
      expect(await of('reasoning')).toBeLessThanOrEqual(await of('output'));
      for (const s of await panel('Cache-hit share of input tokens')) {
        expect(s.value).toBeGreaterThanOrEqual(0);
        expect(s.value).toBeLessThanOrEqual(1);
      }
    });

    it("budgets: used, soft limit and what is left, the client's and each feature's", async () => {
      const used = await panel('Budget used', 'A');
      for (const p of labels(used, 'retryscope_budget_period')) expect(BUDGET_PERIODS).toContain(p);
      // The demo's budgets (DEMO_POLICY in src/demo/run.ts): one for the client, one per feature.
      expect(labels(used, 'retryscope_budget_tag')).toEqual(['', DEMO_TAG]);
      const perFeature = used.filter((s) => s.metric.retryscope_budget_tag === DEMO_TAG);
      expect(labels(perFeature, `retryscope_tag_${DEMO_TAG}`).filter((v) => v !== '').length).toBeGreaterThan(
        1,
      );
      for (const s of used) expect(s.value).toBeGreaterThanOrEqual(0);
      const soft = await panel('Budget used', 'B');
      expect(labels(soft, 'retryscope_budget_period')).toEqual(labels(used, 'retryscope_budget_period'));
      for (const s of soft) {
        expect(s.value).toBeGreaterThan(0);
        expect(s.value).toBeLessThanOrEqual(1);
      }
      const left = await panel('Budget left this period');
      const limits = await query(`sum(retryscope_client_budget_limit{service_name="${DEMO_SERVICE}"})`);
      for (const s of left) {
        expect(s.value).toBeGreaterThanOrEqual(0);
        expect(s.value).toBeLessThanOrEqual(total(limits));
      }
    });
  });

  describe('usage and cost alerts', () => {
    it('RetryscopeNearRateLimit: exactly the models and kinds at 90% or more, each a share', async () => {
      const signal = await firesExactlyWhere('RetryscopeNearRateLimit');
      for (const s of signal) {
        expect(['requests', 'tokens']).toContain(s.metric.retryscope_ratelimit_kind);
        expect(s.value).toBeLessThanOrEqual(1);
      }
    });

    it('RetryscopeSpendSpike: a ratio of spend rates for the demo service', async () => {
      const signal = await firesExactlyWhere('RetryscopeSpendSpike');
      expect(labels(signal, 'service_name')).toEqual([DEMO_SERVICE]);
      for (const s of signal) expect(s.value).toBeGreaterThan(0);
    });

    it('RetryscopeBudgetBurn and RetryscopeBudgetExhausted: exactly the budgets past their soft limit, and spent', async () => {
      await firesExactlyWhere('RetryscopeBudgetBurn');
      await firesExactlyWhere('RetryscopeBudgetExhausted');
    });
  });
}
