import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  type AttemptEvent,
  type FallbackEvent,
  type GiveUpEvent,
  instrument,
  type RetryEvent,
  RetryscopeConfigError,
  type RetryscopeHooks,
  withRetryOptions,
} from '../../src/index.ts';
import { scriptedClients } from '../helpers/scripted-client.ts';
import { apiError, chatCompletion, quotaExhausted, rateLimited } from '../helpers/scripted-server.ts';

const scripted = scriptedClients();
const { t, client } = scripted;
const messages = [{ role: 'user' as const, content: 'hi' }];

/** Every hook, recording what it is told, in order. */
function recorder() {
  const seen: (
    | ['attempt', AttemptEvent]
    | ['retry', RetryEvent]
    | ['fallback', FallbackEvent]
    | ['giveUp', GiveUpEvent]
  )[] = [];
  const hooks: RetryscopeHooks = {
    onAttempt: (e) => seen.push(['attempt', e]),
    onRetry: (e) => seen.push(['retry', e]),
    onFallback: (e) => seen.push(['fallback', e]),
    onGiveUp: (e) => seen.push(['giveUp', e]),
  };
  return { seen, hooks, kinds: () => seen.map(([kind]) => kind) };
}

/** Process warnings with retryscope's hook code, as they are emitted. */
const warnings: Error[] = [];
const onWarning = (w: Error & { code?: string }) => {
  if (w.code === 'RETRYSCOPE_HOOK') warnings.push(w);
};
beforeEach(() => {
  warnings.length = 0;
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});
/** process.emitWarning delivers on a later tick; a rejected hook's catch runs on a microtask before it. */
const warningsDelivered = () => new Promise((resolve) => setImmediate(resolve));

describe('live hooks', () => {
  test('a 429 then a 200: onAttempt twice with the attempt span facts, onRetry once with the wait and who set it', async () => {
    scripted.server.reply(rateLimited(5), { json: chatCompletion('ok') });
    const r = recorder();
    // The limiter off: with it, it may hold the retry longer, and `limiter` would set the wait.
    const result = await client({ hooks: r.hooks, limiter: false }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
    });
    expect(result.choices[0]!.message.content).toBe('ok');
    expect(r.kinds()).toEqual(['attempt', 'retry', 'attempt']);
    const [[, first], [, retry], [, second]] = r.seen as [
      ['attempt', AttemptEvent],
      ['retry', RetryEvent],
      ['attempt', AttemptEvent],
    ];
    expect(first).toEqual({
      operationName: 'chat',
      requestModel: 'gpt-4o-mini',
      attempt: 1,
      fallbackIndex: 0,
      model: 'gpt-4o-mini',
      outcome: 'retried',
      status: 429,
      errorType: 'RateLimitError',
      classification: {
        category: 'rate_limited',
        retryable: true,
        quotaExhausted: false,
        code: 'rate_limit_exceeded',
      },
      backoffMs: 0,
      backoffSource: 'none',
      requestId: 'req_1',
      headroom: {
        limitRequests: 60000,
        limitTokens: 10000000,
        remainingRequests: 0,
        remainingTokens: 9999000,
        resetRequestsMs: 5,
        resetTokensMs: 6,
      },
      retryAfterMs: 5,
    });
    expect(retry).toMatchObject({
      operationName: 'chat',
      attempt: 2,
      fallbackIndex: 0,
      model: 'gpt-4o-mini',
      waitSource: 'retry-after-ms',
      reason: 'rate_limited',
    });
    // The fake clock moves only by the sleeps: the wait is the server's hint exactly.
    expect(retry.waitMs).toBe(5);
    expect(second).toMatchObject({
      attempt: 2,
      outcome: 'success',
      status: 200,
      requestId: 'req_2',
      backoffMs: retry.waitMs,
      backoffSource: 'retry-after-ms',
    });
    expect(second.errorType).toBeUndefined();
    // The same facts as the attempt spans.
    const attempts = (await t.spans()).filter((s) => s.attributes['retryscope.attempt'] !== undefined);
    expect(attempts.map((s) => s.attributes['retryscope.backoff_ms'])).toEqual([0, Math.round(retry.waitMs)]);
  });

  test('a stream: its attempt is told when the stream is read to the end, as its span ends', async () => {
    const chunk = {
      id: 'c',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, delta: { content: 'ok' }, finish_reason: 'stop' }],
    };
    scripted.server.reply(rateLimited(5), { sse: [chunk] });
    const r = recorder();
    const stream = await client({ hooks: r.hooks, limiter: false }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      stream: true,
    });
    expect(r.kinds()).toEqual(['attempt', 'retry']);
    const chunks = [];
    for await (const c of stream) chunks.push(c.choices[0]?.delta.content);
    expect(chunks).toEqual(['ok']);
    expect(r.kinds()).toEqual(['attempt', 'retry', 'attempt']);
    expect(r.seen[2]![1]).toMatchObject({ attempt: 2, outcome: 'success', status: 200 });
  });

  test('a fallback fires onFallback with the hop, its model and why the one before gave up', async () => {
    scripted.server.replyWith((request) =>
      (request.body as { model: string }).model === 'gpt-4o'
        ? quotaExhausted()
        : { json: chatCompletion('from the fallback') },
    );
    const r = recorder();
    const openai = client({ hooks: r.hooks, fallbacks: [{ model: 'gpt-4o-mini' }] });
    await openai.chat.completions.create({ model: 'gpt-4o', messages });
    expect(r.kinds()).toEqual(['attempt', 'fallback', 'attempt']);
    expect(r.seen[1]![1]).toEqual({
      operationName: 'chat',
      requestModel: 'gpt-4o',
      fallbackIndex: 1,
      model: 'gpt-4o-mini',
      reason: 'quota_exhausted',
    });
    expect(r.seen[2]![1]).toMatchObject({ fallbackIndex: 1, model: 'gpt-4o-mini', outcome: 'success' });
  });

  test('giving up fires onGiveUp with the very error the caller gets', async () => {
    scripted.server.reply(apiError(500, null, 'server_error', 'down'));
    const r = recorder();
    const error = await client({ hooks: r.hooks, maxAttempts: 2 })
      .chat.completions.create({ model: 'gpt-4o-mini', messages })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(r.kinds()).toEqual(['attempt', 'retry', 'attempt', 'giveUp']);
    const [, giveUp] = r.seen[3] as ['giveUp', GiveUpEvent];
    expect(giveUp.error).toBe(error);
    expect(giveUp).toMatchObject({
      operationName: 'chat',
      outcome: 'retries_exhausted',
      errorType: 'InternalServerError',
      attempts: 2,
    });
  });

  test('a success fires no onGiveUp, and a refusal before sending fires only onGiveUp', async () => {
    scripted.server.reply({ json: chatCompletion() });
    const r = recorder();
    const openai = client({ hooks: r.hooks });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(r.kinds()).toEqual(['attempt']);
    r.seen.length = 0;
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }).catch(() => {});
    expect(r.kinds()).toEqual(['giveUp']);
    expect(r.seen[0]![1]).toMatchObject({ outcome: 'invalid_request', attempts: 0 });
  });

  test('a throwing hook leaves the result identical and warns once; so does a rejecting one', async () => {
    const script = () => scripted.server.reply(rateLimited(5), { json: chatCompletion('same') });
    script();
    const plain = await client({}).chat.completions.create({ model: 'gpt-4o-mini', messages });
    script();
    const thrown = await client({
      hooks: {
        onAttempt: () => {
          throw new Error('hook bug at https://user:secret@hooks.example/x?key=k');
        },
        onRetry: async () => {
          throw new Error('async hook bug');
        },
      },
    }).chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(thrown).toEqual(plain);
    await warningsDelivered();
    // onAttempt threw twice, onRetry rejected once: one warning per hook.
    expect(warnings.map((w) => w.message)).toEqual([
      'retryscope: hook onAttempt failed (hook bug at https://hooks.example/x); the call itself is unaffected',
      'retryscope: hook onRetry failed (async hook bug); the call itself is unaffected',
    ]);
  });

  test('a throwing onGiveUp leaves the caller the same error', async () => {
    scripted.server.reply(apiError(400, null, 'invalid_request_error', 'bad'));
    const error = await client({
      hooks: {
        onGiveUp: () => {
          throw new Error('boom');
        },
      },
    })
      .chat.completions.create({ model: 'gpt-4o-mini', messages })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.message).toMatch(/bad/);
    await warningsDelivered();
    expect(warnings).toHaveLength(1);
  });

  test('a hook that edits its event cannot change the history the caller gets', async () => {
    scripted.server.reply(apiError(500, null, 'server_error', 'down'));
    const error = await client({
      maxAttempts: 1,
      hooks: {
        onAttempt: (e) => {
          if (e.classification) e.classification.category = 'unknown';
        },
      },
    })
      .chat.completions.create({ model: 'gpt-4o-mini', messages })
      .catch((e) => e);
    expect(error.retryscope.history[0].category).toBe('server_error');
  });

  test('withRetryOptions merges its hooks over the client’s; undefined removes one', async () => {
    scripted.server.reply({ json: chatCompletion() });
    const a = recorder();
    const b = recorder();
    const base = client({ hooks: { onAttempt: a.hooks.onAttempt, onGiveUp: a.hooks.onGiveUp } });
    await withRetryOptions(base, { hooks: { onAttempt: b.hooks.onAttempt } }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
    });
    expect([a.kinds(), b.kinds()]).toEqual([[], ['attempt']]);
    const off = withRetryOptions(base, { hooks: { onGiveUp: undefined } });
    await off.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }).catch(() => {});
    await off.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(a.kinds()).toEqual(['attempt']);
  });

  test('hooks are checked where every option is: a non-function or an unknown hook is a RetryscopeConfigError', () => {
    const openai = scripted.raw();
    expect(() => instrument(openai, { hooks: { onRetry: 'log' as never } })).toThrow(
      new RetryscopeConfigError('retryscope: option "hooks.onRetry" must be a function'),
    );
    expect(() => instrument(openai, { hooks: { onRetries: () => {} } as never })).toThrow(
      /option "hooks.onRetries" is not an option \(known: onAttempt, onRetry, onFallback, onGiveUp\)/,
    );
    expect(() => instrument(openai, { hooks: [] as never })).toThrow(RetryscopeConfigError);
  });
});
