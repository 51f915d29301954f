/**
 * Usage and cost on spans and metrics: the attempt span carries its own
 * attempt's, the operation span the call's sum; the token and cost counters
 * count each attempt that reported usage, so spend on retries is visible.
 */
import type { Attributes, Context, Histogram } from '@opentelemetry/api';
import type { Cost, OperationEnded, Usage } from '../observer.ts';
import * as A from './attributes.ts';
import { compact } from './compact.ts';
import type { InferenceInstruments, Instruments } from './instruments.ts';

/** `gen_ai.usage.*`, `retryscope.cost.*` and the estimate, as a span carries them. */
export function spendAttributes(
  usage: Usage | undefined,
  cost: Cost | undefined,
  estimatedOutputTokens: number | undefined,
): Attributes {
  return compact({
    [A.ATTR_GEN_AI_USAGE_INPUT_TOKENS]: usage?.inputTokens,
    [A.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: usage?.outputTokens,
    [A.ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]: usage?.cachedInputTokens,
    [A.ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS]: usage?.cacheWriteInputTokens,
    [A.ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS]: usage?.reasoningTokens,
    [A.ATTR_COST_USD]: cost && 'usd' in cost ? cost.usd : undefined,
    [A.ATTR_COST_UNPRICED]: cost && 'unpriced' in cost ? cost.unpriced : undefined,
    [A.ATTR_USAGE_ESTIMATED_OUTPUT_TOKENS]: estimatedOutputTokens,
  });
}

/** The tiers OpenAI names; a server's other word is `_OTHER` on metrics, so it cannot grow a label. */
const TIERS: ReadonlySet<string> = new Set(['auto', 'default', 'flex', 'priority', 'scale']);

export function metricTier(tier: string | undefined): string | undefined {
  return tier === undefined ? undefined : TIERS.has(tier) ? tier : A.OTHER;
}

/** Which token types an attempt reported, with their counts, in `TOKEN_TYPES` order. */
function byType(usage: Usage): [(typeof A.TOKEN_TYPES)[number], number | undefined][] {
  return [
    ['input', usage.inputTokens],
    ['cache_read', usage.cachedInputTokens],
    ['cache_creation', usage.cacheWriteInputTokens],
    ['output', usage.outputTokens],
    ['reasoning', usage.reasoningTokens],
  ];
}

/**
 * One attempt's tokens (one add per type it reported) and, when priced, its cost.
 * `attributes`: operation name, request model (redacted), served tier and tags.
 */
export function countSpend(
  instruments: Pick<Instruments, 'tokens' | 'cost'>,
  attributes: Attributes,
  usage: Usage,
  cost: Cost | undefined,
  outcome: string,
  ctx: Context,
): void {
  for (const [type, tokens] of byType(usage)) {
    if (tokens !== undefined)
      instruments.tokens.add(tokens, { ...attributes, [A.ATTR_TOKEN_TYPE]: type }, ctx);
  }
  if (cost && 'usd' in cost)
    instruments.cost.add(cost.usd, { ...attributes, [A.ATTR_ATTEMPT_OUTCOME]: outcome }, ctx);
}

/**
 * The default naming's `gen_ai.client.token.usage`: the call's summed usage (every attempt that
 * reported usage, retries and fallbacks included), input and output as the conventions define them.
 */
export function recordTokenUsage(
  histogram: Histogram,
  usage: Usage | undefined,
  attributes: Attributes,
  ctx: Context,
): void {
  for (const [type, tokens] of [
    ['input', usage?.inputTokens],
    ['output', usage?.outputTokens],
  ] as const) {
    if (tokens !== undefined)
      histogram.record(tokens, { ...attributes, [A.ATTR_GEN_AI_TOKEN_TYPE]: type }, ctx);
  }
}

/** The latest naming's token metrics: the call's summed usage, for every inference call, failed ones too (0 without usage). */
export function recordInferenceTokens(
  i: InferenceInstruments,
  usage: OperationEnded['usage'],
  attributes: Attributes,
  errorType: string | undefined,
  ctx: Context,
): void {
  const input = usage?.inputTokens ?? 0;
  const output = usage?.outputTokens ?? 0;
  const byModality = { ...attributes, [A.ATTR_GEN_AI_TOKEN_MODALITY]: A.TOKEN_MODALITY_UNKNOWN };
  i.usageInputTokens.add(input, byModality, ctx);
  i.usageOutputTokens.add(output, byModality, ctx);
  const perOperation = compact({ ...attributes, [A.ATTR_ERROR_TYPE]: errorType });
  i.operationInputTokens.record(input, perOperation, ctx);
  i.operationOutputTokens.record(output, perOperation, ctx);
}
