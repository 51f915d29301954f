/**
 * Every PromQL expression the stack ships: dashboard panel targets, dashboard
 * variables (label_values), alert rules, and the Jaeger data source's
 * traces-to-metrics queries, each tagged with where it came from.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './tools.ts';

export interface Expression {
  /** e.g. `dashboard quota-and-rate-limits.json / Remaining tokens / A`. */
  source: string;
  kind: 'panel' | 'rule' | 'datasource';
  /** Panel title or alert name. */
  name: string;
  refId?: string;
  expr: string;
  /** traces-to-metrics only: span attribute → label, what `$__tags` is built from. */
  tags?: { key: string; value: string }[];
}

export interface LabelValuesQuery {
  source: string;
  metric: string;
  label: string;
}

const DASHBOARD_DIR = join(ROOT, 'dashboards/generated');
const RULES_DIR = join(ROOT, 'stack/prometheus/rules');
const DATASOURCES = join(ROOT, 'stack/grafana/provisioning/datasources/datasources.yaml');

interface DashboardJson {
  panels: { type: string; title?: string; targets?: { expr?: string; refId?: string }[] }[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
}

function dashboards(): [string, DashboardJson][] {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => [f, JSON.parse(readFileSync(join(DASHBOARD_DIR, f), 'utf8')) as DashboardJson]);
}

export function panelExpressions(): Expression[] {
  const out: Expression[] = [];
  for (const [file, d] of dashboards()) {
    for (const panel of d.panels) {
      for (const t of panel.targets ?? []) {
        if (!t.expr) continue;
        out.push({
          source: `dashboard ${file} / ${panel.title} / ${t.refId}`,
          kind: 'panel',
          name: panel.title ?? '',
          refId: t.refId,
          expr: t.expr,
        });
      }
    }
  }
  return out;
}

/** `label_values(metric{selector}, label)` variables, Grafana's own syntax. */
export function variableQueries(): LabelValuesQuery[] {
  const out: LabelValuesQuery[] = [];
  for (const [file, d] of dashboards()) {
    for (const v of d.templating.list) {
      if (v.type !== 'query' || typeof v.query !== 'string') continue;
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(v.query);
      if (!m) throw new Error(`${file} variable ${v.name}: not a label_values() query: ${v.query}`);
      out.push({ source: `dashboard ${file} / $${v.name}`, metric: m[1]!, label: m[2]! });
    }
  }
  return out;
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}

export function ruleExpressions(): Expression[] {
  const out: Expression[] = [];
  for (const file of readdirSync(RULES_DIR).filter((f) => f.endsWith('.yml') || f.endsWith('.yaml'))) {
    const doc = parse(readFileSync(join(RULES_DIR, file), 'utf8')) as RuleFile;
    for (const group of doc.groups) {
      for (const rule of group.rules) {
        const name = rule.alert ?? rule.record ?? '?';
        out.push({ source: `rules ${file} / ${name}`, kind: 'rule', name, expr: rule.expr.trim() });
      }
    }
  }
  return out;
}

interface DatasourceFile {
  datasources: {
    name: string;
    jsonData?: {
      tracesToMetrics?: {
        tags?: { key: string; value: string }[];
        queries?: { name: string; query: string }[];
      };
    };
  }[];
}

/** Queries Grafana runs from a Jaeger span; `$__tags` becomes matchers on the span's mapped attributes. */
export function datasourceExpressions(): Expression[] {
  const doc = parse(readFileSync(DATASOURCES, 'utf8')) as DatasourceFile;
  return doc.datasources.flatMap((ds) =>
    (ds.jsonData?.tracesToMetrics?.queries ?? []).map((q) => ({
      source: `datasource ${ds.name} / tracesToMetrics / ${q.name}`,
      kind: 'datasource' as const,
      name: q.name,
      expr: q.query,
      tags: ds.jsonData?.tracesToMetrics?.tags ?? [],
    })),
  );
}

export interface Bindings {
  service: string;
  /** Grafana renders a multi-value regex variable as `(a|b)`. */
  models: readonly string[];
  rateInterval: string;
  range: string;
  /** The usage dashboard's tag key (a textbox variable). */
  tag: string;
  /** Attributes of the span a traces-to-metrics link starts from (resource ones included). */
  span: Record<string, string>;
}

/** `$__tags` as Grafana builds it: one matcher per mapped attribute the span has. */
function tagMatchers(e: Pick<Expression, 'tags'>, b: Bindings): string {
  return (e.tags ?? [])
    .filter((t) => b.span[t.key] !== undefined)
    .map((t) => `${t.value}="${b.span[t.key]}"`)
    .join(', ');
}

/** Replaces Grafana's variables the way Grafana would before sending the query. */
export function bind(e: Pick<Expression, 'expr' | 'tags'>, b: Bindings): string {
  return e.expr
    .replaceAll('$__rate_interval', b.rateInterval)
    .replaceAll('$__range', b.range)
    .replaceAll('$__interval', '15s')
    .replaceAll('$__tags', tagMatchers(e, b))
    .replaceAll('$service', b.service)
    .replaceAll('$tag', b.tag)
    .replaceAll('$model', `(${b.models.join('|')})`);
}

/**
 * The signal of a threshold alert: its expression without the final
 * `> N` (or `>= N`), so a quiet feed still shows the rule computes something real.
 */
export function withoutThreshold(expr: string): string | undefined {
  const m = /^\(([\s\S]+)\)\s*>=?\s*[\d.]+$/.exec(expr.trim());
  return m ? m[1]!.trim() : undefined;
}
