/**
 * Spend quota per key, in tokens. A budget lasts either the whole run (a
 * key's own `quotaTokens`) or one visit to a phase (a scenario's quota
 * phase), so a looping scenario runs dry again on every cycle.
 */

export type QuotaBudget =
  | { scope: 'run'; tokens: number }
  | { scope: 'phase'; tokens: number }
  | { scope: 'unlimited' };

interface Account {
  spent: number;
  phaseSpent: number;
  /** The phase visit `phaseSpent` belongs to. */
  visit: number;
}

export class QuotaLedger {
  readonly #accounts = new Map<string, Account>();

  #account(key: string, visit: number): Account {
    let account = this.#accounts.get(key);
    if (!account) {
      account = { spent: 0, phaseSpent: 0, visit };
      this.#accounts.set(key, account);
    }
    if (account.visit !== visit) {
      account.phaseSpent = 0;
      account.visit = visit;
    }
    return account;
  }

  /** Tokens left under `budget`; may be negative after an overshoot. */
  remaining(key: string, budget: QuotaBudget, visit: number): number {
    if (budget.scope === 'unlimited') return Number.POSITIVE_INFINITY;
    const account = this.#account(key, visit);
    return budget.tokens - (budget.scope === 'run' ? account.spent : account.phaseSpent);
  }

  charge(key: string, tokens: number, visit: number): void {
    const account = this.#account(key, visit);
    account.spent += tokens;
    account.phaseSpent += tokens;
  }
}
