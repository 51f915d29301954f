import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { RetryBudget } from '../../src/policy/retry-budget.ts';
import type { ErrorCategory } from '../../src/policy/types.ts';

describe('RetryBudget', () => {
  test('AWS standard-mode prices: 5 a retry, 10 after a timeout or connection error, from 500', () => {
    const budget = new RetryBudget();
    expect(budget.remaining()).toBe(500);
    expect(budget.tryAcquire('server_error')).toBe(true);
    expect(budget.remaining()).toBe(495);
    expect(budget.tryAcquire('timeout')).toBe(true);
    expect(budget.tryAcquire('connection_error')).toBe(true);
    expect(budget.remaining()).toBe(475);
  });

  test('an outage cannot multiply load: 100 retries, then one per five successes', () => {
    const budget = new RetryBudget();
    let retries = 0;
    while (budget.tryAcquire('server_error')) retries++;
    expect(retries).toBe(100);
    expect(budget.remaining()).toBe(0);
    // Refusals spend nothing.
    expect(budget.tryAcquire('server_error')).toBe(false);
    expect(budget.remaining()).toBe(0);

    let granted = 0;
    for (let i = 0; i < 1000; i++) {
      budget.onSuccess();
      if (budget.tryAcquire('server_error')) granted++;
    }
    expect(granted).toBe(200);
  });

  test('a timeout retry needs twice the room', () => {
    const budget = new RetryBudget({ capacity: 15 });
    expect(budget.tryAcquire('timeout')).toBe(true);
    expect(budget.tryAcquire('timeout')).toBe(false);
    expect(budget.tryAcquire('server_error')).toBe(true);
    expect(budget.remaining()).toBe(0);
  });

  test('429 retries are the limiter’s business: free by default, priced when asked', () => {
    const budget = new RetryBudget({ capacity: 10 });
    for (let i = 0; i < 1000; i++) expect(budget.tryAcquire('rate_limited')).toBe(true);
    expect(budget.remaining()).toBe(10);

    const unpaced = new RetryBudget({ capacity: 10, rateLimitedRetryCost: 5 });
    expect(unpaced.tryAcquire('rate_limited')).toBe(true);
    expect(unpaced.tryAcquire('rate_limited')).toBe(true);
    expect(unpaced.tryAcquire('rate_limited')).toBe(false);
  });

  test('a success after retries gives back what the last retry cost; never beyond capacity', () => {
    const budget = new RetryBudget();
    budget.tryAcquire('timeout');
    budget.tryAcquire('server_error');
    budget.onSuccess('server_error');
    expect(budget.remaining()).toBe(490);
    budget.onSuccess('timeout');
    expect(budget.remaining()).toBe(500);
    budget.onSuccess('timeout');
    budget.onSuccess();
    expect(budget.remaining()).toBe(500);
    // After free (rate-limited) retries, a success is still worth the first-try refund.
    budget.tryAcquire('server_error');
    budget.onSuccess('rate_limited');
    expect(budget.remaining()).toBe(496);
  });

  test('remaining stays within [0, capacity] whatever happens', () => {
    const categories: ErrorCategory[] = [
      'rate_limited',
      'server_error',
      'timeout',
      'connection_error',
      'conflict',
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 }),
        fc.array(
          fc.oneof(
            fc.record({ acquire: fc.constantFrom(...categories) }),
            fc.record({ success: fc.option(fc.constantFrom(...categories)) }),
          ),
          { maxLength: 200 },
        ),
        (capacity, steps) => {
          const budget = new RetryBudget({ capacity });
          for (const step of steps) {
            const before = budget.remaining();
            if ('acquire' in step) {
              const ok = budget.tryAcquire(step.acquire);
              expect(budget.remaining()).toBe(ok ? before - budget.costOf(step.acquire) : before);
            } else {
              budget.onSuccess(step.success ?? undefined);
            }
            expect(budget.remaining()).toBeGreaterThanOrEqual(0);
            expect(budget.remaining()).toBeLessThanOrEqual(capacity);
          }
        },
      ),
    );
  });
});
