/**
 * The dashboards and alert rules against what `retryscope demo` really
 * exports, ingested by a real VictoriaMetrics: every metric it emits must be
 * one the dashboards query, and every expression over metrics it emits must
 * return data. (Pacing and fallback metrics come later; feed.ts covers them.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoReport } from '../../src/demo/report.ts';
import { feedFromDemo } from './helpers/demo-feed.ts';
import type { MetricsEngine, Sample } from './helpers/engine.ts';
import {
  type Bindings,
  bind,
  datasourceExpressions,
  type Expression,
  panelExpressions,
  ruleExpressions,
} from './helpers/expressions.ts';
import { toolOrSkip } from './helpers/tools.ts';
import { startVictoriaMetrics } from './helpers/victoria-metrics.ts';

const vmBinary = toolOrSkip('victoria-metrics');
const all = [...panelExpressions(), ...ruleExpressions(), ...datasourceExpressions()];
const metricsOf = (expr: string) => [
  ...new Set(expr.match(/\b(?:gen_ai_client|retryscope_client)_\w+/g) ?? []),
];
/** Base names the dashboards query, without histogram suffixes. */
const queried = new Set(
  all.flatMap((e) => metricsOf(e.expr)).map((m) => m.replace(/_(bucket|sum|count)$/, '')),
);

describe.skipIf(!vmBinary.path)('queries against VictoriaMetrics fed by `retryscope demo`', () => {
  let vm: MetricsEngine;
  let emitted: Set<string>;
  let bindings: Bindings;
  let at: number;
  let answered = 0;
  let report: DemoReport;

  beforeAll(async () => {
    vm = await startVictoriaMetrics(vmBinary.path!);
    report = (await feedFromDemo(`${vm.baseUrl}/opentelemetry`)) as DemoReport;
    await vm.flush();
    at = Math.ceil(Date.now() / 1000);
    const names = (await (await fetch(`${vm.baseUrl}/api/v1/label/__name__/values`)).json()) as {
      data: string[];
    };
    emitted = new Set(names.data);
    const models = (await (await fetch(`${vm.baseUrl}/api/v1/label/gen_ai_request_model/values`)).json()) as {
      data: string[];
    };
    bindings = { service: 'retryscope-demo', models: models.data, rateInterval: '1m', range: '1h' };
  }, 180_000);

  afterAll(async () => {
    await vm?.stop();
    console.log(
      `demo feed: ${emitted?.size} metric names, ${answered} expressions answered with data, ` +
        `${report?.operations.total} operations, ${report?.quotaExhaustedEvents} quota events`,
    );
  });

  it('emits only metric names the dashboards know', () => {
    expect(emitted.size).toBeGreaterThanOrEqual(10);
    for (const name of emitted) {
      expect(queried.has(name.replace(/_(bucket|sum|count)$/, '')), `${name} is not on any dashboard`).toBe(
        true,
      );
    }
  });

  async function run(e: Expression): Promise<Sample[]> {
    const samples = await vm.query(bind(e.expr, bindings), at);
    expect(samples.length, `${e.source} returned no data:\n  ${bind(e.expr, bindings)}`).toBeGreaterThan(0);
    answered++;
    return samples;
  }
  const panel = (title: string) => all.find((e) => e.kind === 'panel' && e.name === title)!;

  it('evaluates every expression whose metrics the demo emits', async () => {
    const covered = all.filter((e) => metricsOf(e.expr).every((m) => emitted.has(m)));
    expect(covered.length).toBeGreaterThanOrEqual(20);
    // Some may rightly be empty on a 20 s run (a quantile of a histogram that
    // saw nothing in the last minute is NaN and dropped); none may fail.
    for (const e of covered) await vm.query(bind(e.expr, bindings), at);
  });

  it('fills the core panels', async () => {
    for (const title of ['Attempts per operation', 'Tokens/s', 'Remaining requests', 'Remaining tokens']) {
      await run(panel(title));
    }
    const latency = all.filter((e) => e.name.startsWith('Operation latency'));
    for (const e of latency) await run(e);
  });

  it('shows the outcomes the demo reports', async () => {
    const shown = (await run(panel('Operations/s by outcome')))
      .map((s) => s.metric.retryscope_outcome)
      .sort();
    const reported = Object.entries(report.operations.byOutcome)
      .filter(([, n]) => n > 0)
      .map(([o]) => o)
      .sort();
    expect(shown).toEqual(reported);
  });

  it('splits the error rate by the error classes the demo failed with', async () => {
    const failed = await vm.query(
      'count by (error_type) (gen_ai_client_operation_duration_seconds_count{retryscope_outcome!~"success|fallback"})',
      at,
    );
    if (failed.length === 0) return;
    const shown = (await run(panel('Error rate % by error class'))).map((s) => s.metric.error_type).sort();
    expect(shown).toEqual(failed.map((s) => s.metric.error_type).sort());
  });

  it('counts the quota exhaustion the demo reports, on the panel and in the alert', async () => {
    const total = await vm.query('sum(retryscope_client_quota_exhausted_total)', at);
    expect(total[0]?.value ?? 0).toBe(report.quotaExhaustedEvents);
    if (report.quotaExhaustedEvents === 0) return;
    await run(panel('Quota-exhaustion events'));
    await run(panel('Quota events in range'));
    const alert = all.find((e) => e.name === 'RetryscopeQuotaExhausted')!;
    expect((await vm.query(bind(alert.expr, bindings), at)).length).toBeGreaterThan(0);
  });
});
