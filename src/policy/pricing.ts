/**
 * What an attempt's tokens cost, from a price table. Pure: no I/O, no guess.
 *
 * A model is found by its exact name, then by that name with a trailing date
 * snapshot removed (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`, `gpt-4-0613` →
 * `gpt-4`), exactly again. Never by prefix: `gpt-4o-mini-audio` is not
 * `gpt-4o-mini`, and a guessed price is worse than none.
 *
 * The served tier picks the prices: `flex` is billed at batch rates (as
 * OpenAI documents), `priority` only from a `priority` entry the user gave,
 * `default` / `auto` / `scale` / none at the main rates; anything else is
 * unpriced.
 */
import { BUILT_IN_PRICES } from './prices.ts';

/** USD per 1M tokens. `cachedInput` absent: cached input is billed as input. */
export interface TierPrice {
  input: number;
  output: number;
  cachedInput?: number;
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
}

export type Priced = { usd: number } | { unpriced: 'unknown_model' | 'unpriced_tier' };

const PER_TOKENS = 1_000_000;
/** `-2024-07-18` or `-0613`, at the end of the name. */
const SNAPSHOT = /-(?:\d{4}-\d{2}-\d{2}|\d{4})$/;
const MAIN_TIERS: ReadonlySet<string> = new Set(['default', 'auto', 'scale']);

/** The model's prices: the user's entry over the built-in one, exact name first, then without its snapshot. */
export function findPrice(
  model: string,
  user: PriceTable = {},
  builtIn: PriceTable = BUILT_IN_PRICES,
): ModelPrice | undefined {
  const exact = entry(model, user, builtIn);
  if (exact !== undefined) return exact ?? undefined;
  const base = model.replace(SNAPSHOT, '');
  return base === model ? undefined : (entry(base, user, builtIn) ?? undefined);
}

/** `null`: removed by the user; `undefined`: in neither table. */
function entry(name: string, user: PriceTable, builtIn: PriceTable): ModelPrice | null | undefined {
  if (Object.hasOwn(user, name)) return user[name];
  return Object.hasOwn(builtIn, name) ? builtIn[name] : undefined;
}

/** The prices of the tier that served the call, or undefined when that tier has none known. */
export function tierPrice(price: ModelPrice, tier: string | undefined): TierPrice | undefined {
  if (tier === undefined || MAIN_TIERS.has(tier)) return price;
  if (tier === 'flex') return price.batch;
  if (tier === 'priority') return price.priority;
  return undefined;
}

/** (input - cached) × input + cached × cachedInput (input's price without one) + output × output. */
export function costOf(tokens: BilledTokens, price: TierPrice): number {
  const input = tokens.inputTokens ?? 0;
  // Never more cached than input: a server's odd report must not make input cost less than nothing.
  const cached = Math.min(tokens.cachedInputTokens ?? 0, input);
  const output = tokens.outputTokens ?? 0;
  return (
    ((input - cached) * price.input + cached * (price.cachedInput ?? price.input) + output * price.output) /
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
