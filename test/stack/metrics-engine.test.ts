/**
 * Every PromQL expression of every dashboard panel, dashboard variable, alert
 * rule and data-source link, run against a real VictoriaMetrics that was fed
 * retryscope's metrics over OTLP/HTTP protobuf (which also fixes the metric
 * names), and again against a real Prometheus 3 holding the same series and
 * loading the stack's own prometheus.yml and rules: each must parse and
 * return plausible, non-empty data on both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricsEngine, Sample } from './helpers/engine.ts';
import {
  type Bindings,
  bind,
  datasourceExpressions,
  panelExpressions,
  ruleExpressions,
  variableQueries,
  withoutThreshold,
} from './helpers/expressions.ts';
import { type FeedSummary, feedMetrics } from './helpers/feed.ts';
import { startPrometheusFrom } from './helpers/prometheus.ts';
import { toolOrSkip } from './helpers/tools.ts';
import { startVictoriaMetrics } from './helpers/victoria-metrics.ts';

const vmBinary = toolOrSkip('victoria-metrics');
const promBinary = toolOrSkip('prometheus');
const promtool = toolOrSkip('promtool');

const panels = panelExpressions();
const rules = ruleExpressions();
const datasourceLinks = datasourceExpressions();
const variables = variableQueries();

const labels = (samples: Sample[], label: string) =>
  [...new Set(samples.map((s) => s.metric[label] ?? ''))].sort();

describe.skipIf(!vmBinary.path || !promBinary.path || !promtool.path)('dashboard and alert queries', () => {
  const engines = new Map<string, MetricsEngine>();
  let feed: FeedSummary;
  let bindings: Bindings;
  let at: number;

  beforeAll(async () => {
    const vm = await startVictoriaMetrics(vmBinary.path!);
    engines.set(vm.name, vm);
    feed = await feedMetrics(vm.otlpMetricsUrl);
    await vm.flush();
    at = Math.ceil(Date.now() / 1000);
    // The variables as a user would pick them: the fed service, every model.
    bindings = { service: feed.service, models: feed.models, rateInterval: '1m', range: '1h' };
    const prom = await startPrometheusFrom(promBinary.path!, promtool.path!, vm);
    engines.set(prom.name, prom);
  });

  afterAll(async () => {
    for (const e of engines.values()) await e.stop();
  });

  it('has the expressions to check', () => {
    expect(panels.length).toBeGreaterThanOrEqual(25);
    expect(rules.map((r) => r.name).sort()).toEqual([
      'RetryscopeHighErrorRate',
      'RetryscopeQuotaExhausted',
      'RetryscopeRetryStorm',
    ]);
    expect(variables.map((v) => v.label)).toContain('service_name');
  });

  it("Prometheus loads the stack's rules and fires the quota alert on this feed", async () => {
    const prom = engines.get('Prometheus')!;
    type Rule = { name: string; health: string; state: string; lastEvaluation: string };
    let loaded: Rule[] = [];
    // Rules are evaluated every 15s (prometheus.yml); wait for a first round.
    for (let i = 0; i < 40; i++) {
      const body = (await (await fetch(`${prom.baseUrl}/api/v1/rules`)).json()) as {
        data: { groups: { rules: Rule[] }[] };
      };
      loaded = body.data.groups.flatMap((g) => g.rules);
      if (loaded.length && loaded.every((r) => !r.lastEvaluation.startsWith('0001'))) break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    expect(loaded.map((r) => [r.name, r.health])).toEqual([
      ['RetryscopeQuotaExhausted', 'ok'],
      ['RetryscopeHighErrorRate', 'ok'],
      ['RetryscopeRetryStorm', 'ok'],
    ]);
    const state = Object.fromEntries(loaded.map((r) => [r.name, r.state]));
    expect(state.RetryscopeQuotaExhausted).toBe('firing');
    // Above 5% now; `for: 5m` keeps it pending.
    expect(state.RetryscopeHighErrorRate).toBe('pending');
    expect(state.RetryscopeRetryStorm).toBe('inactive');
  }, 60_000);

  describe.each(['VictoriaMetrics', 'Prometheus'])('on %s', (engineName) => {
    const answered: string[] = [];
    const engine = () => engines.get(engineName)!;

    afterAll(() => {
      console.log(`${engineName} answered ${answered.length} expressions with data`);
    });

    /** Runs one expression bound like Grafana would; it must return finite numbers. */
    async function run(expr: string, source: string): Promise<Sample[]> {
      const samples = await engine().query(bind(expr, bindings), at);
      expect(samples.length, `${source} returned no data:\n  ${bind(expr, bindings)}`).toBeGreaterThan(0);
      for (const s of samples) expect(Number.isFinite(s.value), `${source}: ${JSON.stringify(s)}`).toBe(true);
      answered.push(source);
      return samples;
    }

    const panel = (title: string, refId = 'A') => {
      const e = panels.find((p) => p.name === title && p.refId === refId);
      if (!e) throw new Error(`no panel "${title}" / ${refId}`);
      return run(e.expr, e.source);
    };

    it.each(panels.map((p) => [p.source, p] as const))('panel %s returns data', async (_s, e) => {
      await run(e.expr, e.source);
    });

    it.each(datasourceLinks.map((d) => [d.source, d] as const))('%s returns data', async (_s, e) => {
      await run(e.expr, e.source);
    });

    it.each(rules.map((r) => [r.source, r] as const))(
      'alert %s parses and computes its signal',
      async (_s, e) => {
        // The full rule must parse and evaluate; a threshold rule may rightly be
        // quiet on this feed, so its left-hand side must return the signal.
        const signal = withoutThreshold(e.expr);
        if (signal) {
          await engine().query(bind(e.expr, bindings), at);
          await run(signal, `${e.source} (signal)`);
        } else {
          await run(e.expr, e.source);
        }
      },
    );

    it.each(variables.map((v) => [v.source, v] as const))(
      'variable %s lists the fed values',
      async (_s, v) => {
        const params = new URLSearchParams({ 'match[]': bind(v.metric, bindings) });
        const res = await fetch(`${engine().baseUrl}/api/v1/label/${v.label}/values?${params}`);
        const body = (await res.json()) as { data: string[] };
        const expected = v.label === 'service_name' ? [feed.service] : [...feed.models];
        expect(body.data.sort()).toEqual(expected.sort());
      },
    );

    describe('panels show what the feed produced', () => {
      it('operations/s by outcome: every outcome', async () => {
        expect(labels(await panel('Operations/s by outcome'), 'retryscope_outcome')).toEqual(feed.outcomes);
      });

      it('error rate by class: the failing error classes, at plausible percentages', async () => {
        const samples = await panel('Error rate % by error class');
        expect(labels(samples, 'error_type')).toEqual(feed.operationErrorTypes);
        const total = samples.reduce((a, s) => a + s.value, 0);
        expect(total).toBeGreaterThan(5);
        expect(total).toBeLessThan(20);
      });

      it('attempts per operation: above 1 (retries happen) and below the retry-storm line', async () => {
        for (const s of await panel('Attempts per operation')) {
          expect(s.value).toBeGreaterThan(1);
          expect(s.value).toBeLessThan(2);
        }
      });

      it('retries/s by reason and backoff by source', async () => {
        expect(labels(await panel('Retries/s by reason'), 'retryscope_retry_reason')).toEqual(
          feed.retryReasons,
        );
        const p50 = await panel('Backoff wait p50 / p95 by source', 'A');
        const p95 = await panel('Backoff wait p50 / p95 by source', 'B');
        expect(labels(p95, 'retryscope_backoff_source')).toEqual(feed.backoffSources);
        for (const s of [...p50, ...p95]) expect(s.value).toBeGreaterThan(0);
        for (const s of p95) expect(s.value).toBeLessThanOrEqual(60);
      });

      it('latency quantiles are ordered and within the buckets', async () => {
        const [p50, p95, p99] = await Promise.all(
          ['A', 'B', 'C'].map((r) => panel('Operation latency p50 / p95 / p99', r)),
        );
        const v = (s: Sample[]) => s[0]!.value;
        expect(v(p50!)).toBeGreaterThan(0);
        expect(v(p50!)).toBeLessThanOrEqual(v(p95!));
        expect(v(p95!)).toBeLessThanOrEqual(v(p99!));
        expect(v(p99!)).toBeLessThanOrEqual(81.92);
      });

      it('tokens/s: input and output', async () => {
        expect(labels(await panel('Tokens/s'), 'gen_ai_token_type')).toEqual(['input', 'output']);
      });

      it('fallbacks: by reason, to the model that served them', async () => {
        const samples = await panel('Fallbacks');
        expect(labels(samples, 'retryscope_fallback_reason')).toEqual(feed.fallbackReasons);
        expect(labels(samples, 'gen_ai_request_model')).toEqual(['gpt-4o-mini']);
      });

      it('quota: events for the model that ran out, counted in range, with a last-event time', async () => {
        const events = await panel('Quota-exhaustion events');
        expect(labels(events, 'gen_ai_request_model')).toEqual(['gpt-4o']);
        const inRange = await panel('Quota events in range');
        // Two insufficient_quota attempts per round (one quota_exhausted call, one fallback).
        expect(inRange[0]!.value).toBeGreaterThanOrEqual(2 * (feed.rounds - 1));
        expect((await panel('Last quota event'))[0]!.value).toBeGreaterThan(0);
      });

      it('429s split into rate_limit_exceeded and insufficient_quota', async () => {
        expect(
          labels(await panel('429s: rate limit vs insufficient_quota'), 'retryscope_error_code'),
        ).toEqual(['insufficient_quota', 'rate_limit_exceeded']);
      });

      it('headroom and reset gauges hold the last values reported', async () => {
        const lastRound = feed.rounds - 1;
        for (const s of await panel('Remaining requests')) expect(s.value).toBe(500 - lastRound * 90);
        for (const s of await panel('Remaining tokens')) expect(s.value).toBe(150_000 - lastRound * 28_000);
        for (const s of await panel('Time to limit reset', 'A')) expect(s.value).toBe(6 + lastRound);
      });

      it('client-side pacing: rejections by outcome, queue, limiter, budget, breaker', async () => {
        const held = await panel("Calls held or rejected by the client's limiter", 'B');
        expect(labels(held, 'retryscope_outcome')).toEqual(['circuit_open', 'queue_full']);
        expect((await panel('Limiter rate'))[0]!.value).toBe(8 - (feed.rounds - 1));
        expect((await panel('Circuit breaker state'))[0]!.value).toBe(2);
        expect((await panel('Queue depth'))[0]!.value).toBe(2 * (feed.rounds - 1));
      });
    });

    describe('alert rules on this feed', () => {
      const rule = (name: string) => rules.find((r) => r.name === name)!;

      it('RetryscopeQuotaExhausted fires for the model out of quota', async () => {
        const samples = await run(rule('RetryscopeQuotaExhausted').expr, 'RetryscopeQuotaExhausted');
        expect(labels(samples, 'gen_ai_request_model')).toEqual(['gpt-4o']);
      });

      it('RetryscopeHighErrorRate is above 5% on a feed with ~10% failures', async () => {
        const samples = await run(rule('RetryscopeHighErrorRate').expr, 'RetryscopeHighErrorRate');
        expect(samples[0]!.value).toBeGreaterThan(0.05);
      });

      it('RetryscopeRetryStorm stays quiet at ~1.3 attempts per call', async () => {
        expect(await engine().query(rule('RetryscopeRetryStorm').expr, at)).toEqual([]);
      });
    });
  });
});
