import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderDashboards } from './src/index.ts';

const generatedDir = join(import.meta.dirname, 'generated');

interface Target {
  expr?: string;
  exemplar?: boolean;
  datasource?: { uid?: string };
}
interface Panel {
  id?: number;
  type: string;
  title?: string;
  description?: string;
  targets?: Target[];
  datasource?: { uid?: string };
  fieldConfig?: { defaults?: { links?: { url?: string }[] } };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; query?: unknown }[] };
}

const rendered = renderDashboards();
const models = [...rendered.entries()].map(([file, json]) => ({
  file,
  model: JSON.parse(json) as Dashboard,
}));
const dataPanels = (d: Dashboard) => d.panels.filter((p) => p.type !== 'row');

/** Counters of events that have traces behind them: a point on these must link to Jaeger. */
const EVENT_COUNTERS = [
  'gen_ai_client_operation_duration_seconds_count',
  'gen_ai_client_inference_duration_seconds_count',
  'retryscope_client_attempts_total',
  'retryscope_client_backoff_duration_seconds',
  'retryscope_client_quota_exhausted_total',
  'retryscope_client_fallbacks_total',
  'retryscope_client_limiter_rejected_total',
];

describe('generated dashboards', () => {
  it('are up to date: regenerating gives byte-identical files (run `npm run dashboards`)', () => {
    const onDisk = readdirSync(generatedDir).filter((f) => f.endsWith('.json'));
    expect(onDisk.sort()).toEqual([...rendered.keys()].sort());
    for (const [file, json] of rendered) {
      expect(readFileSync(join(generatedDir, file), 'utf8'), file).toBe(json);
    }
  });

  it('render deterministically', () => {
    expect([...renderDashboards()]).toEqual([...rendered]);
  });

  it('have distinct uids and the service, model and jaeger_url variables (and usage its tag key)', () => {
    expect(new Set(models.map((m) => m.model.uid)).size).toBe(models.length);
    for (const { model } of models) {
      const extra = model.uid === 'retryscope-usage' ? ['tag'] : [];
      expect(model.templating.list.map((v) => v.name)).toEqual(['service', 'model', 'jaeger_url', ...extra]);
    }
  });

  it('usage and cost: every panel the issue asks for, the "by tag" ones split by the tag key variable', () => {
    const usage = models.find((m) => m.model.uid === 'retryscope-usage')!.model;
    const titles = dataPanels(usage).map((p) => p.title);
    expect(titles).toEqual([
      'Spend per hour by model',
      'Spend per hour by service',
      'Projected 30-day spend',
      'Spend per hour by tag',
      'Spend per hour by service tier and attempt outcome',
      'Tokens/s by type',
      'Cache-hit share of input tokens',
      'Rate-limit utilization by model',
      'Budget used',
      'Budget left this period',
    ]);
    const exprs = (title: string) =>
      usage.panels.find((p) => p.title === title)!.targets!.map((t) => t.expr ?? '');
    expect(exprs('Spend per hour by tag')[0]).toMatch(/sum by \(service_name, retryscope_tag_\$tag\)/);
    expect(usage.templating.list.find((v) => v.name === 'tag')?.query).toBe('feature');
    // Budgets are per client and tag, not per model: the model picker must not hide them.
    for (const title of ['Budget used', 'Budget left this period'])
      for (const e of exprs(title)) expect(e).not.toContain('gen_ai_request_model');
  });

  it('query the provisioned Prometheus data source from every panel, with a description', () => {
    for (const { model } of models) {
      for (const panel of dataPanels(model)) {
        expect(panel.datasource?.uid, panel.title).toBe('prometheus');
        expect(panel.description, panel.title).toBeTruthy();
        expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
        for (const t of panel.targets ?? []) {
          expect(t.datasource?.uid, panel.title).toBe('prometheus');
          expect(t.expr, panel.title).toMatch(/service_name=~"\$service"/);
        }
      }
    }
  });

  it('make every bad minute one click from its traces', () => {
    let linked = 0;
    for (const { model } of models) {
      for (const panel of dataPanels(model)) {
        const exprs = (panel.targets ?? []).map((t) => t.expr ?? '');
        if (!exprs.some((e) => EVENT_COUNTERS.some((c) => e.includes(c)))) continue;
        const links = panel.fieldConfig?.defaults?.links ?? [];
        expect(links.length, `${model.title} / ${panel.title} has no trace link`).toBeGreaterThan(0);
        for (const link of links) expect(link.url).toMatch(/^\$\{jaeger_url\}\/search\?service=/);
        linked++;
      }
    }
    expect(linked).toBeGreaterThanOrEqual(10);
  });

  it('show exemplars on the latency panel', () => {
    const overview = models.find((m) => m.model.uid === 'retryscope-overview')!.model;
    const latency = overview.panels.find((p) => p.title?.startsWith('Operation latency'))!;
    expect(latency.targets?.some((t) => t.exemplar)).toBe(true);
  });

  it('number panels uniquely and stably', () => {
    for (const { model } of models) {
      expect(model.panels.map((p) => p.id)).toEqual(model.panels.map((_, i) => i + 1));
    }
  });
});
