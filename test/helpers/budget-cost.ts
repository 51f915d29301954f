import { callFacts } from '../../src/openai/budgets.ts';

const original = { ...callFacts };

/**
 * Until the usage-cost part prices calls (`call.cost`): each call costs `usdPerToken` for every
 * token its server reported (the scripted answer reports 7 + 3). Undo with `restoreCallFacts()`.
 */
export function costPerToken(usdPerToken: number): void {
  callFacts.cost = (call) => {
    const u = call.facts.usage;
    return u ? { usd: ((u.inputTokens ?? 0) + (u.outputTokens ?? 0)) * usdPerToken } : undefined;
  };
}

export function restoreCallFacts(): void {
  Object.assign(callFacts, original);
}
