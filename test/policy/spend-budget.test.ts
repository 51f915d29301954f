import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  BUDGET_PERIODS,
  budgetVerdict,
  periodEnd,
  periodStart,
  SpendLedger,
} from '../../src/policy/spend-budget.ts';

// 1970 to 2200: every leap-year rule (2000 is one, 2100 is not) is inside.
const instant = fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) });
const period = fc.constantFrom(...BUDGET_PERIODS);

describe('budget periods (calendar periods in UTC)', () => {
  test('a period holds its instant, and the next one starts where it ends', () => {
    fc.assert(
      fc.property(instant, period, (at, per) => {
        const start = periodStart(at, per);
        const end = periodEnd(at, per);
        expect(start).toBeLessThanOrEqual(at);
        expect(at).toBeLessThan(end);
        expect(periodStart(end, per)).toBe(end);
        expect(periodStart(end - 1, per)).toBe(start);
        // Every instant of a period names the same one.
        expect(periodStart(start, per)).toBe(start);
        expect(periodEnd(start, per)).toBe(end);
      }),
    );
  });

  test('a period starts on the hour, at midnight, or at midnight on the 1st, UTC', () => {
    fc.assert(
      fc.property(instant, (at) => {
        const hour = new Date(periodStart(at, 'hour'));
        expect([hour.getUTCMinutes(), hour.getUTCSeconds(), hour.getUTCMilliseconds()]).toEqual([0, 0, 0]);
        const day = new Date(periodStart(at, 'day'));
        expect(day.getUTCHours()).toBe(0);
        expect(day.toISOString().slice(0, 10)).toBe(new Date(at).toISOString().slice(0, 10));
        const month = new Date(periodStart(at, 'month'));
        expect([month.getUTCDate(), month.getUTCHours()]).toEqual([1, 0]);
        expect(month.toISOString().slice(0, 7)).toBe(new Date(at).toISOString().slice(0, 7));
      }),
    );
  });

  test('hours last an hour, days a day, months their calendar length', () => {
    fc.assert(
      fc.property(instant, (at) => {
        expect(periodEnd(at, 'hour') - periodStart(at, 'hour')).toBe(3_600_000);
        expect(periodEnd(at, 'day') - periodStart(at, 'day')).toBe(86_400_000);
        const d = new Date(at);
        // Day 0 of the next month is this month's last day.
        const days = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
        expect(periodEnd(at, 'month') - periodStart(at, 'month')).toBe(days * 86_400_000);
      }),
    );
  });

  test('February has 29 days in leap years (2000, 2024) and 28 otherwise (1900 rule: 2100)', () => {
    const february = (year: number) => {
      const at = Date.UTC(year, 1, 10, 12);
      return (periodEnd(at, 'month') - periodStart(at, 'month')) / 86_400_000;
    };
    expect([february(2000), february(2024), february(2025), february(2100)]).toEqual([29, 29, 28, 28]);
    // December's end is January 1st of the next year.
    expect(periodEnd(Date.UTC(2026, 11, 31, 23, 59), 'month')).toBe(Date.UTC(2027, 0, 1));
  });
});

describe('budget verdict', () => {
  test('allow under the soft limit, warn from it, refuse from the limit', () => {
    expect(budgetVerdict(0, 50)).toBe('allow');
    expect(budgetVerdict(39.99, 50)).toBe('allow');
    expect(budgetVerdict(40, 50)).toBe('warn');
    expect(budgetVerdict(49.99, 50)).toBe('warn');
    expect(budgetVerdict(50, 50)).toBe('refuse');
    expect(budgetVerdict(70, 50)).toBe('refuse');
    expect(budgetVerdict(45, 50, 0.95)).toBe('allow');
    // A soft limit of 1 never warns before refusing.
    expect(budgetVerdict(49.99, 50, 1)).toBe('allow');
  });

  test('the verdict only ever tightens as spend grows', () => {
    const rank = { allow: 0, warn: 1, refuse: 2 };
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e4, noNaN: true }),
        fc.double({ min: 0, max: 1e4, noNaN: true }),
        fc.double({ min: 0.01, max: 1e4, noNaN: true }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        (a, b, limit, soft) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          expect(rank[budgetVerdict(low, limit, soft)]).toBeLessThanOrEqual(
            rank[budgetVerdict(high, limit, soft)],
          );
        },
      ),
    );
  });
});

describe('spend ledger', () => {
  const day = { per: 'day' as const };
  const t0 = Date.UTC(2026, 5, 15, 10);

  test('sums spend per scope and period; tag values and periods are kept apart', () => {
    const ledger = new SpendLedger();
    ledger.charge(day, t0, 1.5);
    expect(ledger.charge(day, t0 + 60_000, 2)).toBe(3.5);
    const acme = { per: 'day' as const, tag: { key: 'tenant', value: 'acme' } };
    const zeta = { per: 'day' as const, tag: { key: 'tenant', value: 'zeta' } };
    ledger.charge(acme, t0, 4);
    expect(ledger.spent(acme, t0)).toBe(4);
    expect(ledger.spent(zeta, t0)).toBe(0);
    expect(ledger.spent(day, t0)).toBe(3.5);
    expect(ledger.spent({ per: 'hour' }, t0)).toBe(0);
  });

  test('a new period starts at zero and the past one is forgotten', () => {
    const ledger = new SpendLedger();
    ledger.charge(day, t0, 10);
    ledger.charge({ per: 'month' }, t0, 10);
    const tomorrow = Date.UTC(2026, 5, 16, 0, 0, 0, 1);
    expect(ledger.spent(day, tomorrow)).toBe(0);
    ledger.charge(day, tomorrow, 1);
    // Yesterday's entry is gone; the month's is still current.
    expect(ledger.size).toBe(2);
    expect(ledger.spent({ per: 'month' }, tomorrow)).toBe(10);
  });

  test('an hour ending forgets it even while a month entry lives on (the earliest end is tracked)', () => {
    const ledger = new SpendLedger();
    ledger.charge({ per: 'month' }, t0, 1);
    ledger.charge({ per: 'hour' }, t0, 1);
    const nextHour = Date.UTC(2026, 5, 15, 11, 0, 0, 1);
    ledger.charge({ per: 'month' }, nextHour, 1);
    expect(ledger.size).toBe(1);
    // And the hour after that is forgotten in turn.
    ledger.charge({ per: 'hour' }, nextHour, 1);
    ledger.charge({ per: 'month' }, Date.UTC(2026, 5, 15, 12, 0, 0, 1), 1);
    expect(ledger.size).toBe(1);
  });

  test('tag values beyond its size are dropped least recently charged first: memory stays bounded', () => {
    const ledger = new SpendLedger(3);
    const tenant = (value: string) => ({ per: 'day' as const, tag: { key: 'tenant', value } });
    for (const v of ['a', 'b', 'c']) ledger.charge(tenant(v), t0, 1);
    ledger.charge(tenant('a'), t0, 1); // a is now the most recent
    ledger.charge(tenant('d'), t0, 1); // b, the least recent, goes
    expect(ledger.size).toBe(3);
    expect(ledger.spent(tenant('b'), t0)).toBe(0);
    expect(ledger.spent(tenant('a'), t0)).toBe(2);
    expect(ledger.spent(tenant('d'), t0)).toBe(1);
  });
});
