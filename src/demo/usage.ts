/**
 * The report's "Usage and cost" section, folded from spans only: tokens by type and the cost of
 * the whole run from the operation spans (each sums its attempts: the bill), cost by model and
 * the spend on attempts that did not serve from the attempt spans.
 */
import type { Attributes } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import * as A from '../telemetry/attributes.ts';

export interface UsageReport {
  /** Operations that reported usage. */
  calls: number;
  /** Inclusive, as OpenAI reports them: `input` includes `cacheRead`, `output` includes `reasoning`. */
  tokens: { input: number; cacheRead: number; output: number; reasoning: number };
  /** Share of input tokens read from the prompt cache (0 with no input). */
  cacheHitShare: number;
  /** Operations with a cost (`retryscope.cost.usd`). */
  priced: number;
  /** What the run cost: every priced operation. */
  costUsd: number;
  /** By the model each attempt asked for (a fallback hop's own model). */
  byModel: Record<string, { usd: number; attempts: number }>;
  /** By tag key, then value: `byTag.feature.search`. */
  byTag: Record<string, Record<string, number>>;
  /** Operations with usage but no price, by why (`unknown_model`, `unpriced_tier`). */
  unpriced: Record<string, number>;
  /** Attempts whose outcome was `retried` or `failed`: how many, how many reported usage, what they cost. */
  wasted: { attempts: number; withUsage: number; usd: number };
  /** Calls served by a fallback (outcome `fallback`) and what they cost, their failed hops' attempts included. */
  fallback: { calls: number; usd: number };
}

const num = (a: Attributes, key: string): number => {
  const v = a[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
};
const has = (a: Attributes, key: string) => typeof a[key] === 'number';
const reportedUsage = (a: Attributes) =>
  has(a, A.ATTR_GEN_AI_USAGE_INPUT_TOKENS) || has(a, A.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS);
const add = (record: Record<string, number>, key: string, by: number) => {
  record[key] = (record[key] ?? 0) + by;
};

export function usageReport(
  operations: readonly ReadableSpan[],
  attempts: readonly ReadableSpan[],
): UsageReport {
  const report: UsageReport = {
    calls: 0,
    tokens: { input: 0, cacheRead: 0, output: 0, reasoning: 0 },
    cacheHitShare: 0,
    priced: 0,
    costUsd: 0,
    byModel: {},
    byTag: {},
    unpriced: {},
    wasted: { attempts: 0, withUsage: 0, usd: 0 },
    fallback: { calls: 0, usd: 0 },
  };
  const { tokens } = report;
  for (const { attributes: a } of operations) {
    const usd = num(a, A.ATTR_COST_USD);
    if (a[A.ATTR_OUTCOME] === 'fallback') {
      report.fallback.calls++;
      report.fallback.usd += usd;
    }
    if (!reportedUsage(a)) continue;
    report.calls++;
    tokens.input += num(a, A.ATTR_GEN_AI_USAGE_INPUT_TOKENS);
    tokens.cacheRead += num(a, A.ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS);
    tokens.output += num(a, A.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS);
    tokens.reasoning += num(a, A.ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS);
    report.costUsd += usd;
    if (has(a, A.ATTR_COST_USD)) report.priced++;
    const unpriced = a[A.ATTR_COST_UNPRICED];
    if (typeof unpriced === 'string') add(report.unpriced, unpriced, 1);
    for (const [key, value] of Object.entries(a)) {
      if (!key.startsWith(A.ATTR_TAG_PREFIX) || typeof value !== 'string') continue;
      const tag = key.slice(A.ATTR_TAG_PREFIX.length);
      report.byTag[tag] ??= {};
      add(report.byTag[tag], value, usd);
    }
  }
  report.cacheHitShare = tokens.input > 0 ? tokens.cacheRead / tokens.input : 0;
  for (const { attributes: a } of attempts) {
    const usd = num(a, A.ATTR_COST_USD);
    const outcome = a[A.ATTR_ATTEMPT_OUTCOME];
    if (outcome === 'retried' || outcome === 'failed') {
      report.wasted.attempts++;
      if (reportedUsage(a)) report.wasted.withUsage++;
      report.wasted.usd += usd;
    }
    if (!has(a, A.ATTR_COST_USD)) continue;
    const model = String(a[A.ATTR_GEN_AI_REQUEST_MODEL] ?? a[A.ATTR_GEN_AI_RESPONSE_MODEL] ?? 'unknown');
    const entry = report.byModel[model] ?? { usd: 0, attempts: 0 };
    entry.usd += usd;
    entry.attempts++;
    report.byModel[model] = entry;
  }
  return report;
}
