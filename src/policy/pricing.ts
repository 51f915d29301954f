/**
 * What an attempt's tokens cost, from a price table. Pure: no I/O, no guess.
 *
 * A model is found by its exact name, then by that name with a trailing date
 * snapshot removed (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`, `gpt-4-0613` →
 * `gpt-4`), exactly again; in the user's table first, so a user's `gpt-4o-mini`
 * also prices the dated snapshots answers name, which the built-in table lists.
 * Never by prefix: `gpt-4o-mini-audio` is not `gpt-4o-mini`, and a guessed
 * price is worse than none.
 *
 * The served tier picks the prices: `flex` is billed at batch rates (as
 * OpenAI documents), `priority` only from a `priority` entry the user gave,
 * `default` / `auto` / `scale` / none at the main rates; anything else is
 * unpriced. A tier with `longContext` rates bills the whole attempt at them
 * once its input passes the threshold, as OpenAI bills long prompts.
 */
import { BUILT_IN_PRICES } from './prices.ts';

/** USD per 1M tokens. `cachedInput` absent: cached input is billed as input. */
export interface TierPrice {
  input: number;
  output: number;
  cachedInput?: number;
  /** Tokens written to the prompt cache (a few newest models); absent: billed as input. */
  cacheWriteInput?: number;
  /** Rates for every token of an attempt whose input tokens (cached included) exceed `aboveInputTokens`. */
  longContext?: LongContextPrice;
}

/** A long prompt's rates, USD per 1M tokens; a cache price absent: those tokens at this `input`. */
export interface LongContextPrice {
  aboveInputTokens: number;
  input: number;
  output: number;
  cachedInput?: number;
  cacheWriteInput?: number;
}

/** A model's prices: the main (standard) tier, and the batch (also flex) and priority tiers when known. */
export interface ModelPrice extends TierPrice {
  batch?: TierPrice;
  priority?: TierPrice;
}

/** The user's table: merged over the built-in one; `null` removes a model. */
export type PriceTable = Readonly<Record<string, ModelPrice | null>>;

/** The token counts pricing reads, as OpenAI reports them (cached inside input, reasoning inside output). */
export interface BilledTokens {
  inputTokens?: number;
  outputTokens?: number;
  cachedInputTokens?: number;
  /** Part of input: written to the prompt cache (`cache_write_tokens`). */
  cacheWriteInputTokens?: number;
}

export type Priced = { usd: number } | { unpriced: 'unknown_model' | 'unpriced_tier' };

const PER_TOKENS = 1_000_000;
/** `-2024-07-18` or `-0613`, at the end of the name. */
const SNAPSHOT = /-(?:\d{4}-\d{2}-\d{2}|\d{4})$/;
const MAIN_TIERS: ReadonlySet<string> = new Set(['default', 'auto', 'scale']);

/** The user removed the model from pricing (`null` in their table): it is left unpriced on purpose, unwarned. */
export function priceRemoved(model: string, user: PriceTable = {}): boolean {
  for (const name of lookupNames(model)) if (Object.hasOwn(user, name)) return user[name] === null;
  return false;
}

/** The names a model is looked up by, in order: its own, then without its date snapshot. */
function lookupNames(model: string): string[] {
  const base = model.replace(SNAPSHOT, '');
  return base === model ? [model] : [model, base];
}

/** The model's prices: the user's table (exact name, then without its snapshot), then the built-in one alike. */
export function findPrice(
  model: string,
  user: PriceTable = {},
  builtIn: PriceTable = BUILT_IN_PRICES,
): ModelPrice | undefined {
  // `null`: removed by the user, snapshots included.
  for (const table of [user, builtIn])
    for (const name of lookupNames(model)) if (Object.hasOwn(table, name)) return table[name] ?? undefined;
  return undefined;
}

/** The prices of the tier that served the call, or undefined when that tier has none known. */
export function tierPrice(price: ModelPrice, tier: string | undefined): TierPrice | undefined {
  if (tier === undefined || MAIN_TIERS.has(tier)) return price;
  if (tier === 'flex') return price.batch;
  if (tier === 'priority') return price.priority;
  return undefined;
}

/**
 * (input - cached - written) × input + cached × cachedInput + written × cacheWriteInput (input's
 * price for either without one) + output × output, at the long-context rates when input passes
 * their threshold: strictly more, as genai-prices' calcPrice selects a tier.
 */
export function costOf(tokens: BilledTokens, tier: TierPrice): number {
  const input = tokens.inputTokens ?? 0;
  const long = tier.longContext;
  const price = long && input > long.aboveInputTokens ? long : tier;
  // Never more cached (then written) than input: a server's odd report must not make input cost less than nothing.
  const cached = Math.min(tokens.cachedInputTokens ?? 0, input);
  const written = Math.min(tokens.cacheWriteInputTokens ?? 0, input - cached);
  const output = tokens.outputTokens ?? 0;
  return (
    ((input - cached - written) * price.input +
      cached * (price.cachedInput ?? price.input) +
      written * (price.cacheWriteInput ?? price.input) +
      output * price.output) /
    PER_TOKENS
  );
}

/** The cost of `tokens` on `model` served at `tier`, or why it has none. */
export function price(
  tokens: BilledTokens,
  model: string | undefined,
  tier: string | undefined,
  user?: PriceTable,
): Priced {
  const found = model === undefined ? undefined : findPrice(model, user);
  if (!found) return { unpriced: 'unknown_model' };
  const rates = tierPrice(found, tier);
  if (!rates) return { unpriced: 'unpriced_tier' };
  return { usd: costOf(tokens, rates) };
}
