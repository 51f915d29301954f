import type { RetryscopeOptions } from '../../src/index.ts';

/** Models the budget tests call, and the answers' models. */
const MODELS = ['gpt-4o', 'gpt-4o-mini'];

/**
 * A `prices` option at a flat `usdPerToken` for every token, cached or not, so a call's cost is
 * its reported tokens times that (the scripted answer reports 7 + 3): the budget tests charge
 * real prices through the real pricing path, with round numbers.
 */
export function flatPrices(usdPerToken: number): Pick<RetryscopeOptions, 'prices'> {
  const perMillion = usdPerToken * 1_000_000;
  const rate = { input: perMillion, cachedInput: perMillion, output: perMillion };
  return { prices: Object.fromEntries(MODELS.map((m) => [m, rate])) };
}
