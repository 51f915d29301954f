import type { Attributes, ObservableGauge, ObservableResult } from '@opentelemetry/api';
import type { BudgetState } from '../observer.ts';
import * as A from './attributes.ts';
import type { Instruments } from './instruments.ts';
import { safely } from './safely.ts';

/** Budgets × tag values one client reports at most (per-tag budgets are bounded by `maxTagValues`). */
const MAX_SERIES = 1024;

/**
 * The spend budgets' gauges. A budget is the client's, not a model's: its series carry only its
 * period and, for a per-tag budget, the tag key and value, so one series per budget (and tag
 * value) holds its latest state whichever model was called. They are observed at each export,
 * not set at a call's end: a period that ended with no call since reads 0 used, so an
 * "exhausted" alert clears at midnight UTC instead of firing on until the next call.
 */
export class BudgetGauges {
  private readonly series = new Map<string, { attributes: Attributes; state: BudgetState }>();
  private readonly now: () => number;
  /** The tag's label, made as every tag label is (a value holding the API key is `_OTHER`). */
  private readonly tagLabel: (tags: Readonly<Record<string, string>>) => Attributes;

  constructor(now: () => number, tagLabel: (tags: Readonly<Record<string, string>>) => Attributes) {
    this.now = now;
    this.tagLabel = tagLabel;
  }

  /** The budgets' state after a call (a refused one too). */
  record(budgets: readonly BudgetState[] | undefined): void {
    for (const state of budgets ?? []) {
      const attributes: Attributes = { [A.ATTR_BUDGET_PERIOD]: state.period };
      if (state.tag) {
        attributes[A.ATTR_BUDGET_TAG] = state.tag.key;
        Object.assign(attributes, this.tagLabel({ [state.tag.key]: state.tag.value }));
      }
      const key = `${state.period}\u0000${state.tag?.key ?? ''}\u0000${state.tag?.value ?? ''}`;
      // Within one period a series keeps its most used state: spend only grows, and the shared
      // `_OTHER` series (tenants past maxTagValues) then shows the most spent of them, so its
      // "exhausted" does not clear while one of them is still refused.
      const prior = this.series.get(key)?.state;
      const kept =
        prior && prior.resetsAtMs === state.resetsAtMs && used(prior) > used(state) ? prior : state;
      this.series.delete(key);
      if (this.series.size >= MAX_SERIES) this.series.delete(this.series.keys().next().value!);
      this.series.set(key, { attributes, state: kept });
    }
  }

  /** Reports the gauges of `i` from the latest states, at each collection. */
  observeWith(i: Instruments): void {
    const each = (gauge: ObservableGauge, value: (s: BudgetState, now: number) => number) =>
      gauge.addCallback((result: ObservableResult) => {
        safely('budgetGauges', () => {
          const now = this.now();
          for (const { attributes, state } of this.series.values())
            result.observe(value(state, now), attributes);
        });
      });
    each(i.budgetUsed, (s, now) => (now < s.resetsAtMs ? used(s) : 0));
    each(i.budgetLimit, (s) => s.limitUsd);
    each(i.budgetSoftLimit, (s) => s.softLimit);
  }
}

const used = (s: BudgetState): number => s.spentUsd / s.limitUsd;
