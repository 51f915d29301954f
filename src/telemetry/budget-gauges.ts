import type { Attributes } from '@opentelemetry/api';
import type { BudgetState } from '../observer.ts';
import * as A from './attributes.ts';
import type { Instruments } from './instruments.ts';

/**
 * The spend budgets' gauges, after every call they apply to (a refused one too). A budget is
 * the client's, not a model's: its series carry only its period and, for a per-tag budget,
 * the tag key and this call's value of it, so one series per budget (and tag value) holds its
 * latest state whichever model was called.
 */
export function recordBudgets(i: Instruments, budgets: readonly BudgetState[] | undefined): void {
  for (const b of budgets ?? []) {
    const attributes: Attributes = { [A.ATTR_BUDGET_PERIOD]: b.period };
    if (b.tag) {
      attributes[A.ATTR_BUDGET_TAG] = b.tag.key;
      attributes[`${A.ATTR_TAG_PREFIX}${b.tag.key}`] = b.tag.value;
    }
    i.budgetUsed.record(b.spentUsd / b.limitUsd, attributes);
    i.budgetLimit.record(b.limitUsd, attributes);
    i.budgetSoftLimit.record(b.softLimit, attributes);
  }
}
