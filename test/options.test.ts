import OpenAI, { AzureOpenAI } from 'openai';
import { describe, expect, test } from 'vitest';
import { instrument, RetryscopeConfigError, type RetryscopeOptions, withRetryOptions } from '../src/index.ts';
import { isOpenAIClient, resolveOptions } from '../src/options.ts';

const client = () => new OpenAI({ apiKey: 'sk-test', baseURL: 'http://127.0.0.1:9/v1' });

/** The error instrument() throws for these options, or undefined when it accepts them. */
function refusal(options: unknown): Error | undefined {
  try {
    instrument(client(), options as RetryscopeOptions);
    return undefined;
  } catch (error) {
    return error as Error;
  }
}

function expectRefused(options: unknown, message: RegExp): void {
  const error = refusal(options);
  expect(error, message.source).toBeInstanceOf(RetryscopeConfigError);
  expect(error!.message).toMatch(message);
}

describe('unknown keys are refused, at every level, naming the key and the allowed ones', () => {
  test.each<[unknown, RegExp]>([
    [{ maxAtempts: 3 }, /option "maxAtempts" is not an option \(known: maxAttempts, backoff, /],
    [
      { limiter: { bogus: 1 } },
      /"limiter.bogus" is not an option \(known: initialRpm, .*shareAcrossClients\)/,
    ],
    [{ limiter: { maxqueue: 10 } }, /"limiter.maxqueue" is not an option \(known: .*maxQueue/],
    [{ retryBudget: { cost: 1 } }, /"retryBudget.cost" is not an option \(known: capacity, retryCost, /],
    [
      { circuitBreaker: { threshold: 0.5 } },
      /"circuitBreaker.threshold" is not an option \(known: failureThreshold, /,
    ],
    [{ validate: { windows: {} } }, /"validate.windows" is not an option \(known: contextWindows\)/],
    [
      { backoff: { jitterMode: 'full' } },
      /"backoff.jitterMode" is not an option \(known: initialMs, maxMs, jitter\)/,
    ],
    [
      { fallbacks: [{ model: 'gpt-4o', modle: 'x' }] },
      /"fallbacks\[0\].modle" is not an option \(known: model, client\)/,
    ],
  ])('%j', (options, message) => expectRefused(options, message));
});

describe('types and ranges are checked, never clamped', () => {
  test.each<[unknown, RegExp]>([
    [{ limiter: { maxQueue: '10' } }, /"limiter.maxQueue" must be an integer >= 0 \(got "10"\)/],
    [{ limiter: { maxQueue: 2.5 } }, /"limiter.maxQueue" must be an integer >= 0 \(got 2.5\)/],
    [{ limiter: { initialRpm: 0 } }, /"limiter.initialRpm" must be a finite number > 0 \(got 0\)/],
    [
      { limiter: { safetyMargin: 0.9 } },
      /"limiter.safetyMargin" must be a finite number from 0 to 0.5 \(got 0.9\)/,
    ],
    [{ limiter: { beta: 0.01 } }, /"limiter.beta" must be a finite number from 0.05 to 1/],
    [{ limiter: { maxSleepMs: 0 } }, /"limiter.maxSleepMs" must be a finite number >= 1 \(got 0\)/],
    [{ limiter: { cubicScale: 0 } }, /"limiter.cubicScale"/],
    [{ limiter: { minRatePerSec: -1 } }, /"limiter.minRatePerSec"/],
    [
      { limiter: { shareAcrossClients: 'yes' } },
      /"limiter.shareAcrossClients" must be a boolean \(got "yes"\)/,
    ],
    [{ limiter: [] }, /"limiter" must be false \(off\), true \(on\) or an options object \(got \[\]\)/],
    [{ limiter: 'on' }, /"limiter" must be false/],
    [
      { circuitBreaker: { failureThreshold: 5 } },
      /"circuitBreaker.failureThreshold" must be a finite number > 0 and <= 1 \(got 5\)/,
    ],
    [{ circuitBreaker: { failureThreshold: 0 } }, /"circuitBreaker.failureThreshold"/],
    [{ circuitBreaker: { windowMs: 0 } }, /"circuitBreaker.windowMs" must be a finite number >= 1/],
    [{ circuitBreaker: { minimumCalls: 0 } }, /"circuitBreaker.minimumCalls" must be an integer >= 1/],
    [{ circuitBreaker: { halfOpenProbes: 1.5 } }, /"circuitBreaker.halfOpenProbes" must be an integer >= 1/],
    [
      { circuitBreaker: { maxOpenMs: 1_000 } },
      /"circuitBreaker.maxOpenMs" must be >= circuitBreaker.openMs \(5000\) \(got 1000\)/,
    ],
    [{ circuitBreaker: { openMs: 100, maxOpenMs: 50 } }, /must be >= circuitBreaker.openMs \(100\)/],
    [{ retryBudget: { capacity: -1 } }, /"retryBudget.capacity" must be a finite number >= 0 \(got -1\)/],
    [{ retryBudget: { retryCost: '5' } }, /"retryBudget.retryCost" .* \(got "5"\)/],
    [{ backoff: { initialMs: '5' } }, /"backoff.initialMs" must be a finite number >= 0 \(got "5"\)/],
    [{ validate: { contextWindows: [] } }, /"validate.contextWindows" must map model names to token counts/],
    [{ validate: 'yes' }, /"validate" must be false/],
    [{ fallbackOn: ['nope'] }, /"fallbackOn\[0\]" is not an outcome; known: retries_exhausted/],
    [{ fallbacks: {} }, /"fallbacks" must be an array/],
    [{ fallbacks: [{ model: '' }] }, /"fallbacks\[0\].model" must be a non-empty string/],
  ])('%j', (options, message) => expectRefused(options, message));

  test('values at the edge of each range are accepted', () => {
    expect(
      refusal({
        limiter: {
          safetyMargin: 0.5,
          beta: 0.05,
          maxSleepMs: 1,
          maxQueue: 0,
          burstMs: 0,
          shareAcrossClients: true,
        },
        circuitBreaker: { failureThreshold: 1, windowMs: 1, minimumCalls: 1, openMs: 0, maxOpenMs: 0 },
        retryBudget: {
          capacity: 0,
          retryCost: 0,
          timeoutRetryCost: 0,
          successRefund: 0,
          rateLimitedRetryCost: 0,
        },
        validate: { contextWindows: { 'my-model': 1, 'gpt-4o': Number.POSITIVE_INFINITY } },
      }),
    ).toBeUndefined();
    expect(
      refusal({ limiter: { safetyMargin: 0, beta: 1 }, circuitBreaker: { failureThreshold: 0.001 } }),
    ).toBe(undefined);
  });

  test('options set to undefined count as not set', () => {
    expect(refusal({ limiter: { maxQueue: undefined }, maxAttempts: undefined })).toBeUndefined();
  });

  test('what is accepted is passed on unchanged', () => {
    const limiter = { maxQueue: 5, safetyMargin: 0.5, beta: 0.05 };
    const circuitBreaker = { failureThreshold: 1, minimumCalls: 3 };
    const resolved = resolveOptions({ limiter, circuitBreaker });
    expect(resolved.limiter).toEqual(limiter);
    expect(resolved.circuitBreaker).toEqual(circuitBreaker);
  });
});

describe('NaN and Infinity are named, not shown as null', () => {
  test.each<[unknown, RegExp]>([
    [{ maxAttempts: Number.NaN }, /"maxAttempts" must be an integer >= 1 \(got NaN\)/],
    [{ maxAttempts: Number.POSITIVE_INFINITY }, /\(got Infinity\)/],
    [
      { maxRetryAfterMs: Number.POSITIVE_INFINITY },
      /"maxRetryAfterMs" must be a finite number >= 0 \(got Infinity\)/,
    ],
    [{ deadlineMs: Number.NaN }, /"deadlineMs" must be a positive number of milliseconds \(got NaN\)/],
    [{ backoff: { maxMs: Number.NEGATIVE_INFINITY } }, /"backoff.maxMs" .*\(got -Infinity\)/],
    [{ limiter: { burstMs: Number.NaN } }, /"limiter.burstMs" .*\(got NaN\)/],
    [{ circuitBreaker: { openMs: Number.POSITIVE_INFINITY } }, /"circuitBreaker.openMs" .*\(got Infinity\)/],
    [{ retryBudget: { capacity: Number.NaN } }, /"retryBudget.capacity" .*\(got NaN\)/],
    [
      { validate: { contextWindows: { 'gpt-4o': Number.NaN } } },
      /"validate.contextWindows.gpt-4o" .*\(got NaN\)/,
    ],
  ])('%j', (options, message) => expectRefused(options, message));

  test('other odd values are shown for what they are', () => {
    expectRefused({ maxAttempts: 10n }, /\(got 10n\)/);
    expectRefused({ maxAttempts: () => 3 }, /\(got a function\)/);
    expectRefused({ maxAttempts: Symbol('x') }, /\(got Symbol\(x\)\)/);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expectRefused({ maxAttempts: circular }, /\(got \[object Object\]\)/);
    expectRefused({ limiter: { maxQueue: 'x'.repeat(500) } }, /\(got "x{79}…\)$/);
  });
});

describe('fallback clients', () => {
  test.each<[string, unknown]>([
    ['an object with its own withOptions', { withOptions: () => ({}) }],
    [
      'an object with every method of its own',
      { withOptions() {}, post() {}, requestAPIList() {}, baseURL: 'x' },
    ],
    ['a string', 'https://api.openai.com/v1'],
    ['the OpenAI class itself', OpenAI],
    ['null', null],
  ])('%s is refused with RetryscopeConfigError, not a TypeError from inside', (_name, fake) => {
    const error = refusal({ fallbacks: [{ client: fake }] });
    expect(error).toBeInstanceOf(RetryscopeConfigError);
    expect(error!.message).toMatch(
      /"fallbacks\[0\].client" must be an openai client \(new OpenAI\(\), new AzureOpenAI\(\)\)/,
    );
  });

  test('the error shows what was passed by kind, never its contents', () => {
    const error = refusal({ fallbacks: [{ client: { apiKey: 'sk-SECRET', withOptions() {} } }] });
    expect(error!.message).toMatch(/\(got an object of class Object\)$/);
    expect(error!.message).not.toContain('sk-SECRET');
  });

  test('OpenAI, AzureOpenAI and instrumented clients are accepted', () => {
    const azure = new AzureOpenAI({
      apiKey: 'k',
      endpoint: 'http://127.0.0.1:9',
      apiVersion: '2024-10-21',
      deployment: 'd',
    });
    const wrapped = instrument(client());
    for (const c of [client(), azure, wrapped]) {
      expect(isOpenAIClient(c)).toBe(true);
      expect(refusal({ fallbacks: [{ client: c }] })).toBeUndefined();
    }
  });
});

test('withRetryOptions() checks overrides the same way', () => {
  const openai = instrument(client());
  expect(() => withRetryOptions(openai, { limiter: { bogus: 1 } as never })).toThrow(
    /"limiter.bogus" is not an option/,
  );
  expect(() => withRetryOptions(openai, { circuitBreaker: { failureThreshold: 2 } })).toThrow(
    RetryscopeConfigError,
  );
});
