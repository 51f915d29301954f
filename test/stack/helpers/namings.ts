/**
 * The two namings of the GenAI metrics, as metric families (Prometheus base
 * names): the dashboards and rules query both, a demo run exports one.
 */
import { expect } from 'vitest';
import { M } from '../../../dashboards/src/common.ts';
import { datasourceExpressions, panelExpressions, ruleExpressions } from './expressions.ts';

/** A family's name without its histogram suffix. */
export const baseName = (m: string) => m.replace(/_(bucket|sum|count)$/, '');

/** Exported only with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental. */
export const LATEST_ONLY = new Set(
  [M.inferences, M.inputTokens, M.outputTokens, M.inputTokenBuckets, M.outputTokenBuckets].map(baseName),
);
/** Exported only without it. */
export const DEFAULT_ONLY = new Set([M.tokens].map(baseName));

/** Metric families an expression reads. */
export const metricsOf = (expr: string) => [
  ...new Set((expr.match(/\b(?:gen_ai_client|retryscope_client)_\w+/g) ?? []).map(baseName)),
];

/**
 * A run under one naming exports exactly the families the dashboards, rules
 * and links query, but for the other naming's own; of those starting with
 * `prefix`, when given.
 */
export function expectExactlyQueried(
  emitted: Iterable<string>,
  naming: 'default' | 'latest',
  prefix = '',
): void {
  const other = naming === 'default' ? LATEST_ONLY : DEFAULT_ONLY;
  const everything = [...panelExpressions(), ...ruleExpressions(), ...datasourceExpressions()];
  const queried = new Set(
    everything.flatMap((e) => metricsOf(e.expr)).filter((m) => !other.has(m) && m.startsWith(prefix)),
  );
  const families = new Set([...emitted].map(baseName).filter((m) => m.startsWith(prefix)));
  expect(
    [...queried].filter((m) => !families.has(m)),
    'queried but never exported',
  ).toEqual([]);
  expect(
    [...families].filter((m) => !queried.has(m)),
    'exported but on no dashboard',
  ).toEqual([]);
}
