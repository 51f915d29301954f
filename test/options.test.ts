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
      /"limiter.bogus" is not an option \(known: initialRpm, .*shareAcrossClients, .*modelGroups/,
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
    [
      { limiter: { modelGroups: { 'gpt-4o': ['gpt-4o-mini'], mini: ['gpt-4o-mini'] } } },
      /"limiter.modelGroups.mini" lists "gpt-4o-mini", which is already in pool "gpt-4o"/,
    ],
    [{ limiter: { modelGroups: { a: [1] } } }, /"limiter.modelGroups.a\[0\]" must be a non-empty model name/],
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

describe('every option is checked in src/options.ts, and the mechanisms trust what it passes', () => {
  test.each<[unknown, RegExp]>([
    [{ limiter: { initialTpm: 0 } }, /"limiter.initialTpm" must be a finite number > 0 \(got 0\)/],
    [{ limiter: { burstMs: -1 } }, /"limiter.burstMs" must be a finite number >= 0 \(got -1\)/],
    [{ limiter: { cutCooldownMs: -1 } }, /"limiter.cutCooldownMs" must be a finite number >= 0/],
    [{ limiter: { coldStartProbes: 1.5 } }, /"limiter.coldStartProbes" must be an integer >= 0/],
    [{ limiter: { coldStartHoldMs: Number.NaN } }, /"limiter.coldStartHoldMs" .* \(got NaN\)/],
    [{ limiter: { redisTimeoutMs: 0 } }, /"limiter.redisTimeoutMs" must be a finite number > 0/],
    [{ limiter: { quotaCooldownMs: -1 } }, /"limiter.quotaCooldownMs" must be a finite number >= 0/],
    [{ circuitBreaker: { openMs: -1 } }, /"circuitBreaker.openMs" must be a finite number >= 0/],
    [{ circuitBreaker: { probeLeaseMs: -1 } }, /"circuitBreaker.probeLeaseMs" must be a finite number >= 0/],
    [
      { retryBudget: { timeoutRetryCost: -1 } },
      /"retryBudget.timeoutRetryCost" must be a finite number >= 0/,
    ],
    [{ retryBudget: { successRefund: Infinity } }, /"retryBudget.successRefund" .* \(got Infinity\)/],
    [{ retryBudget: { rateLimitedRetryCost: -1 } }, /"retryBudget.rateLimitedRetryCost"/],
    [{ backoff: { jitter: 'some' } }, /"backoff.jitter" must be one of full, equal, decorrelated, none/],
    [{ backoff: [] }, /"backoff" must be an object \(got \[\]\)/],
    [{ maxAttempts: 0 }, /"maxAttempts" must be an integer >= 1 \(got 0\)/],
    [{ deadlineMs: 0 }, /"deadlineMs" must be a positive number of milliseconds \(got 0\)/],
    [{ clock: { now: () => 0 } }, /"clock" must have now\(\) and sleep\(ms, signal\)/],
    [{ fallbacks: [{}] }, /"fallbacks\[0\]" needs a model, a client, or both/],
    [{ fallbacks: [null] }, /"fallbacks\[0\]" must be an object \{ model\?, client\? \} \(got null\)/],
  ])('%j', (options, message) => expectRefused(options, message));

  test('fallbackOn knows every failure outcome, and only those', async () => {
    const { FAILURE_OUTCOMES } = await import('../src/policy/types.ts');
    expect(refusal({ fallbackOn: [...FAILURE_OUTCOMES] })).toBeUndefined();
    expectRefused({ fallbackOn: ['success'] }, /is not an outcome; known: retries_exhausted, non_retryable/);
    expectRefused({ fallbackOn: ['fallback'] }, /is not an outcome/);
  });
});

test('@default is written on every option in the type docs, nested ones included', async () => {
  const ts = (await import('typescript')).default;
  const program = ts.createProgram(['src/options.ts'], {
    allowImportingTsExtensions: true,
    noEmit: true,
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const file = program.getSourceFile('src/options.ts')!;
  const root = checker
    .getExportsOfModule(checker.getSymbolAtLocation(file)!)
    .find((s) => s.name === 'RetryscopeOptions')!;
  const missing: string[] = [];
  const shaped = (t: import('typescript').Type) =>
    (t.flags & (ts.TypeFlags.Object | ts.TypeFlags.Intersection)) !== 0;
  const seen = new Set<unknown>();
  // Object-shaped options (backoff, limiter, retryBudget, circuitBreaker, validate, fallbacks[i]) are walked
  // too; providers, clients, clocks and functions are values, not option objects.
  const opaque = /Provider|OpenAI|Clock|=>|ModelGroups|Record<|Readonly</;
  const walk = (type: import('typescript').Type, path: string) => {
    for (const member of checker.getPropertiesOfType(type)) {
      const name = `${path}${member.name}`;
      if (!member.getJsDocTags(checker).some((t) => t.name === 'default')) missing.push(name);
      const declared = checker.getTypeOfSymbol(member);
      for (const part of declared.isUnion() ? declared.types : [declared]) {
        const text = checker.typeToString(part);
        if (opaque.test(text) || !shaped(part) || seen.has(part)) continue;
        seen.add(part);
        const element = checker.isArrayType(part)
          ? checker.getTypeArguments(part as import('typescript').TypeReference)[0]
          : part;
        if (element && shaped(element) && !opaque.test(checker.typeToString(element)))
          walk(element, `${name}.`);
      }
    }
  };
  walk(checker.getDeclaredTypeOfSymbol(root), '');
  expect(missing).toEqual([]);
  // The walk reached the nested options, so an undocumented one there would have been caught.
  expect(seen.size).toBeGreaterThanOrEqual(6);
}, 60_000);

test('a Redis URL that does not parse is refused up front, its value (a password) never echoed', () => {
  for (const redis of [
    'redis://user:hunter2@host:notaport',
    'redis://:hunter2@',
    'redis://user:hunter2@host:99999x',
  ]) {
    let error: unknown;
    try {
      instrument(client(), { limiter: { redis } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RetryscopeConfigError);
    expect(String((error as Error).message)).toMatch(/"limiter.redis" must be a redis:\/\/ URL/);
    expect(JSON.stringify(error) + String((error as Error).message)).not.toContain('hunter2');
  }
  expect(() =>
    instrument(client(), { limiter: { redis: 'redis://user:pw@127.0.0.1:6379/2' } }),
  ).not.toThrow();
});
