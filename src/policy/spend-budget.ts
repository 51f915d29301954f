/**
 * Spend budgets: the calendar periods they run over, the verdict for a budget
 * given what is spent, and an in-memory ledger of spend per period. Pure: time
 * is passed in.
 *
 * Periods are calendar periods in UTC (the hour, the day, the month), so every
 * process agrees on when one starts and ends without talking to the others.
 */

export const BUDGET_PERIODS = ['hour', 'day', 'month'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

/** One spend budget: `usd` per calendar period (UTC), for the whole client or for each value of a tag. */
export interface BudgetSetting {
  /**
   * The limit in US dollars per period: a finite number > 0.
   * @default none (required)
   */
  usd: number;
  /**
   * The calendar period, in UTC: `hour`, `day` or `month`.
   * @default none (required)
   */
  per: BudgetPeriod;
  /**
   * A per-tag budget: each value of this tag has its own `usd` per period; a call without
   * the tag is not under it.
   * @default undefined (one budget for every call)
   */
  tag?: string;
  /**
   * The share of `usd` at which the budget warns (its gauge and alerts), in (0, 1].
   * @default 0.8
   */
  softLimit?: number;
}

export const DEFAULT_SOFT_LIMIT = 0.8;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** When the period holding `atMs` starts (UTC, ms since the epoch). */
export function periodStart(atMs: number, per: BudgetPeriod): number {
  if (per === 'hour') return Math.floor(atMs / HOUR_MS) * HOUR_MS;
  if (per === 'day') return Math.floor(atMs / DAY_MS) * DAY_MS;
  const d = new Date(atMs);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** When the period holding `atMs` ends: the next one's start (exclusive). */
export function periodEnd(atMs: number, per: BudgetPeriod): number {
  if (per === 'hour') return periodStart(atMs, per) + HOUR_MS;
  if (per === 'day') return periodStart(atMs, per) + DAY_MS;
  const d = new Date(atMs);
  // Date.UTC carries month 12 into January of the next year.
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

export type BudgetVerdict = 'allow' | 'warn' | 'refuse';

/** A budget at or past its limit refuses; at or past its soft share of it, warns. */
export function budgetVerdict(
  spentUsd: number,
  limitUsd: number,
  softLimit = DEFAULT_SOFT_LIMIT,
): BudgetVerdict {
  if (spentUsd >= limitUsd) return 'refuse';
  if (spentUsd >= limitUsd * softLimit) return 'warn';
  return 'allow';
}

/**
 * What a budget's spend is kept under: its period and tag (key and value), never its
 * limit, so two limits on the same spend read one count. A per-tag budget's `tag` is set.
 */
export interface SpendScope {
  per: BudgetPeriod;
  tag?: { key: string; value: string };
}

/** A scope's name, the same in every process (the fleet's store keys it by this and the period start). */
export function scopeId(scope: SpendScope): string {
  return scope.tag ? `${scope.per}\u0000${scope.tag.key}\u0000${scope.tag.value}` : scope.per;
}

/**
 * Most (scope, period) entries one ledger keeps: per-tag budgets are kept by the tag's real
 * value, which baggage from upstream can vary without end. Past this the least recently charged
 * entry is dropped (that scope starts again from $0 here; with Redis the fleet's total still
 * holds it). 10 000 tenants' current periods are a few MB and a lookup stays O(1).
 */
export const MAX_LEDGER_ENTRIES = 10_000;

/**
 * Spend per (scope, period start), in memory. Periods once over are forgotten when the
 * earliest of them ends (not scanned for on every charge): only current periods are ever read.
 */
export class SpendLedger {
  private readonly entries = new Map<string, { endMs: number; usd: number }>();
  private readonly maxEntries: number;
  /** When the earliest held period ends: nothing is over before then. */
  private nextEndMs = Number.POSITIVE_INFINITY;

  constructor(maxEntries = MAX_LEDGER_ENTRIES) {
    this.maxEntries = maxEntries;
  }

  /** What was spent under `scope` in the period holding `nowMs`. */
  spent(scope: SpendScope, nowMs: number): number {
    return this.entries.get(entryKey(scope, nowMs))?.usd ?? 0;
  }

  /** Adds `usd` to the scope's current period; returns the new total. */
  charge(scope: SpendScope, nowMs: number, usd: number): number {
    if (nowMs >= this.nextEndMs) this.forget(nowMs);
    const key = entryKey(scope, nowMs);
    const entry = this.entries.get(key) ?? { endMs: periodEnd(nowMs, scope.per), usd: 0 };
    entry.usd += usd;
    // Re-inserted, so the Map's order is least recently charged first.
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.nextEndMs = Math.min(this.nextEndMs, entry.endMs);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return entry.usd;
  }

  /** How many (scope, period) entries are held: past periods are not. */
  get size(): number {
    return this.entries.size;
  }

  private forget(nowMs: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const [key, entry] of this.entries) {
      if (entry.endMs <= nowMs) this.entries.delete(key);
      else next = Math.min(next, entry.endMs);
    }
    this.nextEndMs = next;
  }
}

function entryKey(scope: SpendScope, nowMs: number): string {
  return `${scopeId(scope)}\u0000${periodStart(nowMs, scope.per)}`;
}
