/**
 * What one call spent: each attempt's reported usage, priced with the model
 * that answered it and the tier that served it, and the call's sum (the bill).
 * An attempt cut mid-stream with no usage report gets an estimate of its
 * output, kept apart: never added to the usage, never priced.
 */
import type { AttemptEnded, Cost, OperationEnded, ResponseFacts, Usage } from '../observer.ts';
import { type PriceTable, price, priceRemoved } from '../policy/pricing.ts';
import { OTHER } from '../telemetry/attributes.ts';
import type { Telemetry } from '../telemetry/recorder.ts';
import { reportOnce, safely } from '../telemetry/safely.ts';
import { carriesOutput } from './extract.ts';

/** Distinct unpriced models warned about; past it a process cycling model names stays quiet. */
const MAX_PRICE_WARNINGS = 100;
const warned = new Set<string>();
/** A tier named in a warning: a server's word, so only when it looks like one. */
const TIER_NAME = /^[a-z_-]{1,32}$/;

type Unpriced = Extract<Cost, { unpriced: string }>['unpriced'];
type Spent = Pick<AttemptEnded, 'usage' | 'cost' | 'estimatedOutputTokens' | 'serviceTier'>;

export class Spend {
  /** Summed over every attempt that reported usage. */
  usage: Usage | undefined;
  /** The priced attempts' cost summed (an unpriced one adds nothing); unpriced when none was priced. */
  cost: Cost | undefined;
  /** Summed over attempts cut mid-stream with no usage report. */
  estimatedOutputTokens: number | undefined;
  private readonly prices: PriceTable;
  /** False for a poll: it reads a response its create paid for. */
  private readonly counts: boolean;
  private readonly telemetry: Pick<Telemetry, 'spanValue'>;
  private outputChunks = 0;
  private modelBefore: string | undefined;

  /** `counts` false: a poll, which reads a response its create paid for (the conventions say not to count it). */
  constructor(
    state: { options: { prices: PriceTable }; telemetry: Pick<Telemetry, 'spanValue'> },
    counts: boolean,
  ) {
    this.prices = state.options.prices;
    this.counts = counts;
    this.telemetry = state.telemetry;
  }

  /** The call's sums, as its end reports them. */
  totals(): Pick<OperationEnded, 'usage' | 'cost' | 'estimatedOutputTokens'> {
    return { usage: this.usage, cost: this.cost, estimatedOutputTokens: this.estimatedOutputTokens };
  }

  /** An attempt starts: the usage, tier and model the call's facts hold from now on are its own. */
  attemptStarted(facts: ResponseFacts): void {
    facts.usage = undefined;
    facts.serviceTier = undefined;
    this.modelBefore = facts.responseModel ?? this.modelBefore;
    facts.responseModel = undefined;
    this.outputChunks = 0;
  }

  /** A stream item relayed to the caller. */
  saw(item: unknown): void {
    if (carriesOutput(item)) this.outputChunks++;
  }

  /** The attempt ended: what it used and cost, added to the call's sums. `model`: the hop's request model. */
  attemptEnded(facts: ResponseFacts, model: string | undefined, succeeded: boolean): Spent {
    const tier = facts.serviceTier;
    const answeredBy = facts.responseModel ?? model;
    // An attempt that got no body says nothing of the model: the operation keeps the last one seen.
    facts.responseModel ??= this.modelBefore;
    const spent: Spent = tier ? { serviceTier: tier } : {};
    if (!this.counts) return spent;
    const usage = facts.usage;
    if (!usage) {
      if (this.outputChunks === 0) return spent;
      // A stream with output but no usage report: cut mid-way, or a chat stream the caller did not
      // ask usage of. Its tokens are only estimated, so it has no cost, and a success says why.
      this.estimatedOutputTokens = (this.estimatedOutputTokens ?? 0) + this.outputChunks;
      if (!succeeded) return { ...spent, estimatedOutputTokens: this.outputChunks };
      const none: Cost = { unpriced: 'no_usage' };
      safely('priceWarning', () => this.warn(answeredBy, tier, 'no_usage'));
      this.cost = addCost(this.cost, none);
      return { ...spent, estimatedOutputTokens: this.outputChunks, cost: none };
    }
    const cost = price(usage, answeredBy, tier, this.prices);
    // A warning that fails to print must not fail the call.
    if ('unpriced' in cost) safely('priceWarning', () => this.warn(answeredBy, tier, cost.unpriced));
    this.usage = addUsage(this.usage, usage);
    this.cost = addCost(this.cost, cost);
    return { ...spent, usage, cost };
  }

  private warn(model: string | undefined, tier: string | undefined, why: Unpriced) {
    // `prices: { [model]: null }` says: do not price it, so do not warn about it either.
    if (why !== 'no_usage' && model !== undefined && priceRemoved(model, this.prices)) return;
    const name = why === 'no_usage' ? '' : (model && this.telemetry.spanValue(model)) || '(none)';
    const key = `price\u0000${why}\u0000${name}`;
    if (warned.has(key) || warned.size >= MAX_PRICE_WARNINGS) return;
    warned.add(key);
    if (why === 'no_usage') {
      reportOnce(
        key,
        '',
        () =>
          'retryscope: a stream ended with no usage report, so its tokens are only estimated ' +
          '(retryscope.usage.estimated_output_tokens) and it has no cost (retryscope.cost.unpriced=no_usage); ' +
          'spend budgets do not see it. Ask for usage: stream_options: { include_usage: true }.',
        'RETRYSCOPE_PRICE',
      );
      return;
    }
    const t = tier && TIER_NAME.test(tier) ? tier : 'its';
    // Flex is billed at batch rates; priority only from the user's own table.
    const field = tier === 'flex' ? 'batch' : 'priority';
    reportOnce(
      key,
      name,
      (m) =>
        m === OTHER
          ? `retryscope: no ${why === 'unknown_model' ? '' : 'tier '}price for a model whose name is not shown ` +
            `(not a plain model name, or it holds the API key), so its calls get no cost (retryscope.cost.unpriced=${why}). ` +
            'Add its price with the prices option, keyed by the model name the API answers with.'
          : why === 'unknown_model'
            ? `retryscope: no price for model ${m}, so its calls get no cost (retryscope.cost.unpriced=unknown_model). ` +
              `Add one, in USD per 1M tokens: instrument(client, { prices: { '${m}': { input, output, cachedInput } } })`
            : `retryscope: no ${t} tier price for model ${m}, so its calls at that tier get no cost ` +
              `(retryscope.cost.unpriced=unpriced_tier). Add one: prices: { '${m}': { ..., ${field}: { input, output } } }`,
      'RETRYSCOPE_PRICE',
    );
  }
}

const plus = (a: number | undefined, b: number | undefined) =>
  a === undefined ? b : b === undefined ? a : a + b;

export function addUsage(total: Usage | undefined, usage: Usage): Usage {
  if (!total) return { ...usage };
  const sum: Usage = {};
  for (const key of [
    'inputTokens',
    'outputTokens',
    'cachedInputTokens',
    'reasoningTokens',
    'cacheWriteInputTokens',
  ] as const) {
    const value = plus(total[key], usage[key]);
    if (value !== undefined) sum[key] = value;
  }
  return sum;
}

function addCost(total: Cost | undefined, cost: Cost): Cost {
  if (!total || !('usd' in total)) return 'usd' in cost || !total ? cost : total;
  return 'usd' in cost ? { usd: total.usd + cost.usd } : total;
}
