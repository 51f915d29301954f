/**
 * The dashboard-query proof for the opt-in naming: a shorter `retryscope demo`
 * run with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental, into a
 * real VictoriaMetrics and then a real Prometheus 3 (as metrics-engine.test.ts
 * does for the default naming). Every panel target, alert rule and
 * traces-to-metrics query that reads a GenAI family, and every dashboard
 * variable, must return finite data on both engines. The retryscope_client_*
 * families do not change with the naming: metrics-engine.test.ts proves them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoReport } from '../../src/demo/report.ts';
import { INFERENCE_OPERATIONS } from '../../src/telemetry/attributes.ts';
import { DEMO_MODELS, DEMO_SERVICE, DEMO_TAG } from './helpers/demo-feed.ts';
import { type MetricsEngine, queryWithData, type Sample } from './helpers/engine.ts';
import {
  type Bindings,
  bind,
  datasourceExpressions,
  panelExpressions,
  ruleExpressions,
  variableQueries,
  withoutThreshold,
} from './helpers/expressions.ts';
import { type FedEngines, feedEngines } from './helpers/fed-engines.ts';
import { baseName, DEFAULT_ONLY, expectExactlyQueried, LATEST_ONLY, metricsOf } from './helpers/namings.ts';

/** Long enough for every job of the mixed scenario to run and two exports (5 s apart) to land. */
const LATEST_SECONDS = 12;

const everything = [...panelExpressions(), ...ruleExpressions(), ...datasourceExpressions()];
const genAi = everything.filter((e) => metricsOf(e.expr).some((m) => m.startsWith('gen_ai_client_')));
const labels = (samples: Sample[], label: string) =>
  [...new Set(samples.map((s) => s.metric[label] ?? ''))].sort();
const total = (samples: Sample[]) => samples.reduce((a, s) => a + s.value, 0);

describe('dashboard and alert queries on a `retryscope demo` run with gen_ai_latest_experimental', () => {
  const engines = new Map<string, MetricsEngine>();
  let demo: DemoReport;
  let at: number;
  let families: Set<string>;
  const bindings: Bindings = {
    service: DEMO_SERVICE,
    models: DEMO_MODELS,
    rateInterval: '1m',
    range: '1h',
    tag: DEMO_TAG,
    span: { 'service.name': DEMO_SERVICE, 'gen_ai.request.model': 'gpt-4o-mini' },
  };
  const raw = (expr: string) => engines.get('VictoriaMetrics')!.query(expr, at);

  let fed: FedEngines | undefined;

  beforeAll(async () => {
    fed = await feedEngines({
      seconds: LATEST_SECONDS,
      env: { OTEL_SEMCONV_STABILITY_OPT_IN: 'gen_ai_latest_experimental' },
    });
    ({ demo, at } = fed);
    families = new Set([...fed.emitted].map(baseName));
    for (const e of fed.engines) engines.set(e.name, e);
  }, 180_000);

  afterAll(() => fed?.stop());

  it('has GenAI expressions to check: operations, errors, latency, tokens, both rules on them, both links', () => {
    expect(genAi.filter((e) => e.kind === 'panel').length).toBeGreaterThanOrEqual(9);
    expect(genAi.filter((e) => e.kind === 'rule').map((e) => e.name)).toEqual([
      'RetryscopeHighErrorRate',
      'RetryscopeRetryStorm',
    ]);
    expect(genAi.filter((e) => e.kind === 'datasource').length).toBe(2);
  });

  it('exports the latest names, and the default ones only where the conventions keep them', async () => {
    for (const m of LATEST_ONLY) expect(families, m).toContain(m);
    for (const m of DEFAULT_ONLY) expect(families, m).not.toContain(m);
    // Embeddings are not inference: they keep gen_ai.client.operation.duration.
    const ops = (name: string) => raw(`count by (gen_ai_operation_name) (${name})`);
    expect(
      labels(await ops('gen_ai_client_operation_duration_seconds_count'), 'gen_ai_operation_name'),
    ).toEqual(['embeddings']);
    const inference = labels(
      await ops('gen_ai_client_inference_duration_seconds_count'),
      'gen_ai_operation_name',
    );
    expect(inference).toContain('chat');
    for (const o of inference) expect(INFERENCE_OPERATIONS).toContain(o);
  });

  it('exports exactly the GenAI metric families the dashboards, rules and links query for this naming', () => {
    // The retryscope_client_* ones are the default run's to check: a 12 s run need not reach each.
    expectExactlyQueried(families, 'latest', 'gen_ai_client_');
  });

  it('counts every operation the report does, under one name or the other; tokens on every inference', async () => {
    const sum = async (expr: string) => total(await raw(`sum(${expr})`));
    const inferences = await sum('gen_ai_client_inference_duration_seconds_count');
    expect(inferences + (await sum('gen_ai_client_operation_duration_seconds_count'))).toBe(
      demo.operations.total,
    );
    expect(demo.metrics.operations).toBe(demo.operations.total);
    // One point per inference operation, failed ones (0 tokens) included; the counters add up the same tokens.
    expect(await sum('gen_ai_client_inference_operation_input_tokens_count')).toBe(inferences);
    const input = await sum('gen_ai_client_inference_usage_input_tokens_total');
    expect(input).toBeGreaterThan(0);
    expect(input).toBe(await sum('gen_ai_client_inference_operation_input_tokens_sum'));
    expect(
      labels(await raw('gen_ai_client_inference_usage_output_tokens_total'), 'gen_ai_token_modality'),
    ).toEqual(['unknown']);
  });

  describe.each(['VictoriaMetrics', 'Prometheus'])('on %s', (engineName) => {
    const engine = () => engines.get(engineName)!;

    it.each(genAi.map((e) => [e.source, e] as const))('%s returns data', async (source, e) => {
      const signal = e.kind === 'rule' ? withoutThreshold(e.expr) : undefined;
      // A threshold rule may rightly be quiet on this run: it must parse, and its signal return data.
      if (signal) await engine().query(bind(e, bindings), at);
      await queryWithData(engine(), bind(signal ? { expr: signal } : e, bindings), at, source);
    });

    it.each(variableQueries().map((v) => [v.source, v] as const))(
      'variable %s lists the demo service and models',
      async (_s, v) => {
        const params = new URLSearchParams({ 'match[]': bind({ expr: v.metric }, bindings) });
        const res = await fetch(`${engine().baseUrl}/api/v1/label/${v.label}/values?${params}`);
        const body = (await res.json()) as { data: string[] };
        expect(body.data.sort()).toEqual(
          v.label === 'service_name' ? [DEMO_SERVICE] : [...DEMO_MODELS].sort(),
        );
      },
    );

    // Embeddings keep the default name, so data alone could come from them: the chat calls must show.
    it('operations, attempts per operation and the retry-storm signal include the chat models', async () => {
      const of = (name: string) => genAi.find((e) => e.name === name)!;
      const outcomes = await queryWithData(
        engine(),
        bind(of('Operations/s by outcome'), bindings),
        at,
        'outcomes',
      );
      // Pre-flight validation refuses the demo's out-of-range chat temperature all run long.
      expect(labels(outcomes, 'retryscope_outcome')).toEqual(
        expect.arrayContaining(['success', 'invalid_request']),
      );
      for (const name of ['Attempts per operation', 'RetryscopeRetryStorm']) {
        const e = of(name);
        const samples = await queryWithData(
          engine(),
          bind({ expr: withoutThreshold(e.expr) ?? e.expr }, bindings),
          at,
          name,
        );
        expect(labels(samples, 'gen_ai_request_model'), name).toContain('gpt-4o-mini');
      }
    });

    it('tokens: input and output, per second and per operation, from the renamed metrics', async () => {
      for (const e of genAi.filter((x) => x.name.startsWith('Tokens'))) {
        const samples = await queryWithData(engine(), bind(e, bindings), at, e.source);
        expect(labels(samples, 'gen_ai_token_type'), e.source).toEqual(['input', 'output']);
      }
    });
  });
});
