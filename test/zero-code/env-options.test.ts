/** The RETRYSCOPE_* variables: what each sets, and errors that name the variable and never echo its value. */
import { describe, expect, test } from 'vitest';
import { RetryscopeConfigError } from '../../src/options.ts';
import { zeroCodeSettings } from '../../src/zero-code/env-options.ts';

describe('zeroCodeSettings', () => {
  test('nothing set: enabled, the SDK started only if the app has none, instrument() defaults', () => {
    expect(zeroCodeSettings({})).toEqual({ disabled: false, startSdk: 'auto', options: {} });
  });

  test('each variable sets its instrument() option', () => {
    const settings = zeroCodeSettings({
      RETRYSCOPE_DISABLED: 'off',
      RETRYSCOPE_START_SDK: 'false',
      RETRYSCOPE_MAX_ATTEMPTS: '2',
      RETRYSCOPE_DEADLINE_MS: '1500',
      RETRYSCOPE_MAX_RETRY_AFTER_MS: '0',
      RETRYSCOPE_CAPTURE_CONTENT: 'yes',
      RETRYSCOPE_VALIDATE: '0',
      RETRYSCOPE_RETRY_BUDGET: 'OFF',
      RETRYSCOPE_CIRCUIT_BREAKER: 'on',
      RETRYSCOPE_LIMITER_REDIS: 'redis://127.0.0.1:6379',
    });
    expect(settings).toEqual({
      disabled: false,
      startSdk: false,
      options: {
        maxAttempts: 2,
        deadlineMs: 1500,
        maxRetryAfterMs: 0,
        captureContent: true,
        validate: false,
        retryBudget: false,
        circuitBreaker: true,
        limiter: { redis: 'redis://127.0.0.1:6379' },
      },
    });
    expect(zeroCodeSettings({ RETRYSCOPE_DISABLED: '1', RETRYSCOPE_START_SDK: 'auto' })).toMatchObject({
      disabled: true,
      startSdk: 'auto',
    });
    expect(zeroCodeSettings({ RETRYSCOPE_START_SDK: 'on', RETRYSCOPE_LIMITER: 'off' })).toEqual({
      disabled: false,
      startSdk: true,
      options: { limiter: false },
    });
  });

  test.each([
    [{ RETRYSCOPE_MAX_ATTEMPTS: 'four' }, 'RETRYSCOPE_MAX_ATTEMPTS must be a number'],
    [{ RETRYSCOPE_MAX_ATTEMPTS: '0' }, 'RETRYSCOPE_MAX_ATTEMPTS must be an integer >= 1'],
    [{ RETRYSCOPE_MAX_ATTEMPTS: '1.5' }, 'RETRYSCOPE_MAX_ATTEMPTS must be an integer >= 1'],
    [{ RETRYSCOPE_DEADLINE_MS: '0' }, 'RETRYSCOPE_DEADLINE_MS must be a positive number of milliseconds'],
    [{ RETRYSCOPE_MAX_RETRY_AFTER_MS: '-1' }, 'RETRYSCOPE_MAX_RETRY_AFTER_MS must be a number'],
    [{ RETRYSCOPE_LIMITER: 'maybe' }, 'RETRYSCOPE_LIMITER must be on or off (or 1/0, true/false, yes/no)'],
    [
      { RETRYSCOPE_START_SDK: 'later' },
      'RETRYSCOPE_START_SDK must be auto, on or off (or 1/0, true/false, yes/no)',
    ],
    [
      { RETRYSCOPE_LIMITER_REDIS: 'http://user:hunter2@cache:6379' },
      'RETRYSCOPE_LIMITER_REDIS must be a redis:// URL or a node-redis / ioredis client',
    ],
    [
      { RETRYSCOPE_LIMITER: 'off', RETRYSCOPE_LIMITER_REDIS: 'redis://:hunter2@cache' },
      'RETRYSCOPE_LIMITER_REDIS is set but RETRYSCOPE_LIMITER is off',
    ],
  ])('%j: a RetryscopeConfigError naming the variable, without its value', (env, message) => {
    let error: unknown;
    try {
      zeroCodeSettings(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RetryscopeConfigError);
    expect((error as Error).message).toBe(`retryscope: ${message}`);
    for (const value of Object.values(env)) {
      if (!['off', '0', '1.5', '-1'].includes(value)) expect((error as Error).message).not.toContain(value);
    }
  });
});
