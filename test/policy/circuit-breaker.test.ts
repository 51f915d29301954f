import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { CircuitBreaker, isBreakerFailure } from '../../src/policy/circuit-breaker.ts';
import type { ErrorCategory } from '../../src/policy/types.ts';

const options = { failureThreshold: 0.5, windowMs: 10_000, minimumCalls: 4, openMs: 1000, maxOpenMs: 8000 };

/** Opens a breaker with `options` at `now`: four failures in a row. */
function tripped(now = 0) {
  const breaker = new CircuitBreaker(options);
  for (let i = 0; i < 4; i++) breaker.onFailure(now, 'server_error');
  expect(breaker.state(now)).toBe('open');
  return breaker;
}

describe('CircuitBreaker', () => {
  test('only the server’s failures count', () => {
    const counted: ErrorCategory[] = ['server_error', 'timeout', 'connection_error', 'malformed_response'];
    const neutral: ErrorCategory[] = [
      'rate_limited',
      'quota_exhausted',
      'request_too_large',
      'conflict',
      'bad_request',
      'authentication',
      'permission_denied',
      'not_found',
      'unprocessable',
      'aborted',
      'stream_error',
      'unknown',
    ];
    for (const c of counted) expect(isBreakerFailure(c)).toBe(true);
    for (const c of neutral) expect(isBreakerFailure(c)).toBe(false);

    const breaker = new CircuitBreaker(options);
    for (let i = 0; i < 1000; i++) breaker.onFailure(i, 'rate_limited');
    expect(breaker.state(1000)).toBe('closed');
  });

  test('opens on the failure share over the window, once there are enough calls', () => {
    const breaker = new CircuitBreaker(options);
    breaker.onFailure(0, 'timeout');
    breaker.onFailure(1, 'timeout');
    breaker.onFailure(2, 'timeout');
    // Three calls: below minimumCalls, however bad.
    expect(breaker.state(2)).toBe('closed');
    breaker.onSuccess(3);
    // 3 of 4 failed: 75% ≥ 50%.
    expect(breaker.state(3)).toBe('closed');
    breaker.onFailure(4, 'connection_error');
    expect(breaker.state(4)).toBe('open');
    expect(breaker.allow(4)).toBe(false);
  });

  test('a healthy share keeps it closed; old results leave the window', () => {
    const breaker = new CircuitBreaker(options);
    for (let i = 0; i < 10; i++) breaker.onSuccess(i);
    for (let i = 0; i < 9; i++) breaker.onFailure(10 + i, 'server_error');
    expect(breaker.state(20)).toBe('closed');
    // Ten seconds on, the successes have left the window, the failures are fresh.
    for (let i = 0; i < 3; i++) breaker.onFailure(10_500 + i, 'server_error');
    expect(breaker.state(10_503)).toBe('closed');
    breaker.onFailure(10_600, 'server_error');
    expect(breaker.state(10_600)).toBe('open');
  });

  test('open for openMs, then half open: one probe at a time', () => {
    const breaker = tripped();
    expect(breaker.allow(999)).toBe(false);
    expect(breaker.state(1000)).toBe('half_open');
    expect(breaker.allow(1000)).toBe(true);
    expect(breaker.allow(1001)).toBe(false);
    breaker.onSuccess(1200);
    expect(breaker.state(1200)).toBe('closed');
    expect(breaker.allow(1200)).toBe(true);
  });

  test('a failed probe opens it again, for twice as long, up to maxOpenMs', () => {
    const breaker = tripped();
    let now = 1000;
    for (const openFor of [2000, 4000, 8000, 8000]) {
      expect(breaker.allow(now)).toBe(true);
      breaker.onFailure(now, 'timeout');
      expect(breaker.state(now + openFor - 1)).toBe('open');
      expect(breaker.state(now + openFor)).toBe('half_open');
      now += openFor;
    }
    // Recovery resets the doubling.
    expect(breaker.allow(now)).toBe(true);
    breaker.onSuccess(now);
    for (let i = 0; i < 4; i++) breaker.onFailure(now, 'server_error');
    expect(breaker.state(now + 999)).toBe('open');
    expect(breaker.state(now + 1000)).toBe('half_open');
  });

  test('halfOpenProbes concurrent probes; a neutral result frees a slot without deciding', () => {
    const breaker = new CircuitBreaker({ ...options, halfOpenProbes: 2 });
    for (let i = 0; i < 4; i++) breaker.onFailure(0, 'server_error');
    expect(breaker.allow(1000)).toBe(true);
    expect(breaker.allow(1000)).toBe(true);
    expect(breaker.allow(1000)).toBe(false);
    breaker.onFailure(1100, 'rate_limited');
    expect(breaker.state(1100)).toBe('half_open');
    expect(breaker.allow(1100)).toBe(true);
    expect(breaker.allow(1100)).toBe(false);
  });

  test('a probe that never reports is presumed lost after probeLeaseMs', () => {
    const breaker = new CircuitBreaker({ ...options, probeLeaseMs: 30_000 });
    for (let i = 0; i < 4; i++) breaker.onFailure(0, 'server_error');
    expect(breaker.allow(1000)).toBe(true);
    expect(breaker.allow(30_999)).toBe(false);
    expect(breaker.allow(31_000)).toBe(true);
  });

  test('results of attempts that started before it opened change nothing while open', () => {
    const breaker = tripped();
    breaker.onSuccess(500);
    breaker.onFailure(500, 'server_error');
    expect(breaker.state(999)).toBe('open');
    expect(breaker.state(1000)).toBe('half_open');
  });

  test('defaults: a 60% partial outage stays closed, a dead upstream opens', () => {
    const partial = new CircuitBreaker();
    // 10 calls a second for a minute, 6 in 10 failing.
    for (let i = 0; i < 600; i++) {
      const now = i * 100;
      expect(partial.allow(now)).toBe(true);
      if (i % 10 < 6) partial.onFailure(now, 'server_error');
      else partial.onSuccess(now);
    }
    expect(partial.state(60_000)).toBe('closed');

    const dead = new CircuitBreaker();
    let failures = 0;
    for (let now = 0; dead.allow(now); now += 100) {
      dead.onFailure(now, 'connection_error');
      failures++;
    }
    // Open after the twentieth, at 1.9 s; probing 5 s later.
    expect(failures).toBe(20);
    expect(dead.state(6899)).toBe('open');
    expect(dead.state(6900)).toBe('half_open');
  });

  test('never more concurrent probes than allowed, whatever happens', () => {
    const categories: ErrorCategory[] = ['server_error', 'timeout', 'rate_limited', 'bad_request'];
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.array(
          fc.record({
            dt: fc.nat(3000),
            op: fc.oneof(
              fc.constant('allow' as const),
              fc.constant('success' as const),
              fc.constantFrom(...categories),
            ),
          }),
          { maxLength: 200 },
        ),
        (probes, steps) => {
          const breaker = new CircuitBreaker({ ...options, halfOpenProbes: probes, probeLeaseMs: 1e9 });
          let now = 0;
          let outstanding = 0;
          for (const { dt, op } of steps) {
            now += dt;
            const before = breaker.state(now);
            if (op === 'allow') {
              const ok = breaker.allow(now);
              if (before === 'closed') expect(ok).toBe(true);
              if (before === 'open') expect(ok).toBe(false);
              if (before === 'half_open' && ok) outstanding++;
              if (before === 'half_open') expect(outstanding).toBeLessThanOrEqual(probes);
            } else {
              if (op === 'success') breaker.onSuccess(now);
              else breaker.onFailure(now, op);
              if (before === 'half_open')
                outstanding = breaker.state(now) === 'half_open' ? outstanding - 1 : 0;
              else if (breaker.state(now) !== 'half_open') outstanding = 0;
            }
          }
        },
      ),
    );
  });
});
