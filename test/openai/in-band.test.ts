/**
 * Failures inside a 200, against the simulator: a Responses result that
 * failed or stopped short ends its attempt and call as such, is retried when
 * the policy says so and nothing reached the caller, and is handed to the
 * caller as the SDK returns it. Background polls are `fetch_response`
 * operations. Chat finish reasons are counted.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { instrument, type RetryscopeOptions } from '../../src/index.ts';
import { type FaultSpec, type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry } from '../helpers/otel.ts';

const t = createTestTelemetry();
let sim: Simulator | undefined;
beforeEach(() => t.reset());
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function client(faults: FaultSpec[], options: RetryscopeOptions = {}) {
  sim = await startSimulator({
    scenario: { name: 'in-band', streamChunkDelayMs: 0, phases: [{ name: 'only', faults }] },
    seed: 1,
  });
  return instrument(new OpenAI({ baseURL: sim.url, apiKey: 'sk-sim', logLevel: 'off' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock().clock,
    limiter: false,
    maxAttempts: 3,
    ...options,
  });
}

async function split() {
  const spans = await t.spans();
  const op = spans.filter((s) => s.attributes['retryscope.outcome'] !== undefined);
  const attempts = spans.filter((s) => s.attributes['retryscope.attempt'] !== undefined);
  expect(op).toHaveLength(1);
  return { op: op[0]!, attempts };
}

const request = { model: 'gpt-4o-mini', input: 'hello', max_output_tokens: 20 };
const attr = (s: ReadableSpan, name: string) => s.attributes[name];

async function events(stream: AsyncIterable<{ type: string }>): Promise<string[]> {
  const types: string[] = [];
  for await (const event of stream) types.push(event.type);
  return types;
}

/** Three requests, the first two retried, the last one the answer: the policy's default attempts. */
function expectThreeAttemptsLastFailed(attempts: ReadableSpan[]): void {
  expect(sim!.stats().requests).toBe(3);
  expect(attempts.map((a) => attr(a, 'retryscope.attempt.outcome'))).toEqual([
    'retried',
    'retried',
    'failed',
  ]);
}

describe('a failed response (server_error), not streamed', () => {
  test('retried under the policy; the caller gets the last answer, failed status and all', async () => {
    const openai = await client([{ kind: 'response_failed', every: 1 }]);
    const response = await openai.responses.create(request);
    expect(response.status).toBe('failed');
    expect(response.error?.code).toBe('server_error');
    const { op, attempts } = await split();
    expectThreeAttemptsLastFailed(attempts);
    for (const a of attempts) {
      expect(attr(a, 'http.response.status_code')).toBe(200);
      expect(attr(a, 'error.type')).toBe('server_error');
      expect(attr(a, 'retryscope.retry_reason')).toBe('server_error');
      expect(attr(a, 'retryscope.error.code')).toBe('server_error');
      expect(a.status.code).toBe(2); // ERROR
    }
    expect(attr(op, 'retryscope.outcome')).toBe('response_failed');
    expect(attr(op, 'error.type')).toBe('server_error');
    expect(attr(op, 'gen_ai.response.id')).toBe(response.id);
    expect(op.status.code).toBe(2);
  });

  test('a failure that clears on a retry ends as success', async () => {
    const openai = await client([{ kind: 'response_failed', every: 2 }]);
    await openai.responses.create(request); // the first is fine: it uses up request 1
    t.reset();
    const response = await openai.responses.create(request);
    expect(response.status).toBe('completed');
    const { op, attempts } = await split();
    expect(attempts.map((a) => attr(a, 'retryscope.attempt.outcome'))).toEqual(['retried', 'success']);
    expect(attr(op, 'retryscope.outcome')).toBe('success');
  });

  test('a non-retryable code is one attempt', async () => {
    const openai = await client([{ kind: 'response_failed', every: 1, code: 'invalid_prompt' }]);
    const response = await openai.responses.create(request);
    expect(response.error?.code).toBe('invalid_prompt');
    const { op, attempts } = await split();
    expect(attempts).toHaveLength(1);
    expect(attr(attempts[0]!, 'retryscope.retryable')).toBe(false);
    expect(attr(op, 'retryscope.outcome')).toBe('response_failed');
    expect(attr(op, 'error.type')).toBe('invalid_prompt');
  });

  test('.withResponse() keeps the SDK shape too', async () => {
    const openai = await client([{ kind: 'response_failed', every: 1, code: 'rate_limit_exceeded' }]);
    const { data, response } = await openai.responses.create(request).withResponse();
    expect(data.status).toBe('failed');
    expect(response.status).toBe(200);
    const { op, attempts } = await split();
    expect(attempts).toHaveLength(3);
    expect(attr(attempts[0]!, 'retryscope.retry_reason')).toBe('rate_limited');
    expect(attr(op, 'error.type')).toBe('rate_limit_exceeded');
  });
});

describe('live hooks', () => {
  test('a retried failed response is a retry, and the failed answer a give-up with its error.type', async () => {
    const retries: string[] = [];
    const giveUps: { outcome: string; errorType?: string; error?: unknown }[] = [];
    const openai = await client([{ kind: 'response_failed', every: 1 }], {
      maxAttempts: 2,
      hooks: {
        onRetry: (e) => void retries.push(e.reason),
        onGiveUp: (e) => void giveUps.push(e),
      },
    });
    await openai.responses.create(request);
    expect(retries).toEqual(['server_error']);
    expect(giveUps).toHaveLength(1);
    expect(giveUps[0]).toMatchObject({ outcome: 'response_failed', errorType: 'server_error' });
    // No error: the caller got the answer.
    expect(giveUps[0]!.error).toBeUndefined();
  });
});

describe('fallbacks', () => {
  test('response_failed in fallbackOn moves on to the next model; by default it does not', async () => {
    const faults: FaultSpec[] = [{ kind: 'response_failed', every: 1, models: ['gpt-4o-mini'] }];
    const fallbacks = [{ model: 'gpt-4o' }];
    const opted = await client(faults, { fallbacks, fallbackOn: ['response_failed'], maxAttempts: 1 });
    const served = await opted.responses.create(request);
    expect(served.status).toBe('completed');
    expect(served.model).toBe('gpt-4o');
    expect(attr((await split()).op, 'retryscope.outcome')).toBe('fallback');
    await sim!.close();

    t.reset();
    const plain = await client(faults, { fallbacks, maxAttempts: 1 });
    expect((await plain.responses.create(request)).status).toBe('failed');
    expect(attr((await split()).op, 'retryscope.outcome')).toBe('response_failed');
  });
});

describe('an incomplete response, not streamed', () => {
  test.each([
    ['max_output_tokens', undefined],
    ['content_filter', 'content_filter'],
  ])('%s: not retried, ends as response_incomplete', async (reason, code) => {
    const openai = await client([{ kind: 'response_incomplete', every: 1, ...(code ? { code } : {}) }]);
    const response = await openai.responses.create(request);
    expect(response.status).toBe('incomplete');
    expect(response.incomplete_details?.reason).toBe(reason);
    const { op, attempts } = await split();
    expect(attempts).toHaveLength(1);
    expect(attr(attempts[0]!, 'retryscope.retry_reason')).toBe('incomplete');
    expect(attr(attempts[0]!, 'error.type')).toBe(reason);
    expect(attr(op, 'retryscope.outcome')).toBe('response_incomplete');
    expect(attr(op, 'error.type')).toBe(reason);
    expect(op.status.code).toBe(2);
  });

  test('the simulator cuts a reply short by max_output_tokens on its own, and that counts too', async () => {
    const openai = await client([]);
    const response = await openai.responses.create({ ...request, max_output_tokens: 3 });
    expect(response.status).toBe('incomplete');
    const { op } = await split();
    expect(attr(op, 'retryscope.outcome')).toBe('response_incomplete');
  });
});

describe('streamed', () => {
  test('response.failed right after the opening events (as the API sends it): retried behind the iterator, the caller sees the last', async () => {
    const openai = await client([{ kind: 'response_failed', every: 1 }]);
    const stream = await openai.responses.create({ ...request, stream: true });
    expect(await events(stream)).toEqual(['response.created', 'response.in_progress', 'response.failed']);
    const { op, attempts } = await split();
    expectThreeAttemptsLastFailed(attempts);
    expect(attr(op, 'retryscope.outcome')).toBe('response_failed');
    expect(attr(op, 'error.type')).toBe('server_error');
  });

  test('a first-event failure that clears: the caller gets the retried, completed stream', async () => {
    const openai = await client([{ kind: 'response_failed', every: 2 }]);
    await openai.responses.create(request);
    t.reset();
    const stream = await openai.responses.create({ ...request, stream: true });
    const types = await events(stream);
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    const { op, attempts } = await split();
    expect(attempts).toHaveLength(2);
    expect(attr(op, 'retryscope.outcome')).toBe('success');
  });

  test('response.failed after output reached the caller: passed through, recorded, not retried', async () => {
    const openai = await client([{ kind: 'response_failed', every: 1, afterChunks: 2 }]);
    const stream = await openai.responses.create({ ...request, stream: true });
    const types = await events(stream);
    expect(types.filter((x) => x === 'response.output_text.delta')).toHaveLength(2);
    expect(types.at(-1)).toBe('response.failed');
    const { op, attempts } = await split();
    expect(sim!.stats().requests).toBe(1);
    expect(attempts).toHaveLength(1);
    expect(attr(attempts[0]!, 'retryscope.attempt.outcome')).toBe('failed');
    expect(attr(attempts[0]!, 'retryscope.retryable')).toBe(false);
    expect(attr(attempts[0]!, 'error.type')).toBe('server_error');
    expect(attr(op, 'retryscope.outcome')).toBe('response_failed');
    expect(op.status.code).toBe(2);
  });

  test('response.incomplete at the end: passed through, response_incomplete', async () => {
    const openai = await client([{ kind: 'response_incomplete', every: 1, code: 'content_filter' }]);
    const stream = await openai.responses.create({ ...request, stream: true });
    expect((await events(stream)).at(-1)).toBe('response.incomplete');
    const { op, attempts } = await split();
    expect(attempts).toHaveLength(1);
    expect(attr(op, 'retryscope.outcome')).toBe('response_incomplete');
    expect(attr(op, 'error.type')).toBe('content_filter');
  });
});

describe('background mode', () => {
  test('each poll is a fetch_response operation; the one that reports the failure carries it', async () => {
    const openai = await client([{ kind: 'response_failed', every: 1 }]);
    const created = await openai.responses.create({ ...request, background: true });
    expect(created.status).toBe('queued');
    const createSpans = await split();
    expect(attr(createSpans.op, 'retryscope.outcome')).toBe('success');
    expect(attr(createSpans.op, 'gen_ai.operation.name')).toBe('chat');

    const statuses: string[] = [];
    const polls: ReadableSpan[] = [];
    for (let i = 0; i < 3; i++) {
      t.reset();
      const polled = await openai.responses.retrieve(created.id);
      statuses.push(polled.status!);
      const { op, attempts } = await split();
      // A stored result read back is the same on every read: one attempt, never re-polled.
      expect(attempts).toHaveLength(1);
      polls.push(op);
    }
    expect(statuses).toEqual(['in_progress', 'failed', 'failed']);
    for (const op of polls) {
      expect(attr(op, 'gen_ai.operation.name')).toBe('fetch_response');
      expect(op.name).toBe('fetch_response');
    }
    expect(polls.map((op) => attr(op, 'retryscope.outcome'))).toEqual([
      'success',
      'response_failed',
      'response_failed',
    ]);
    expect(attr(polls[1]!, 'error.type')).toBe('server_error');
  });

  test('a healthy background response completes on the second poll', async () => {
    const openai = await client([]);
    const created = await openai.responses.create({ ...request, background: true });
    await openai.responses.retrieve(created.id);
    const done = await openai.responses.retrieve(created.id);
    expect(done.status).toBe('completed');
    expect(done.output_text).toContain('simulated');
    // The polls read tokens the create spent: not counted again (the conventions: SHOULD NOT report).
    expect(done.usage?.output_tokens).toBeGreaterThan(0);
    const polls = (await t.spans()).filter((s) => s.name === 'fetch_response');
    expect(polls.length).toBe(2);
    for (const p of polls) expect(p.attributes['gen_ai.usage.output_tokens']).toBeUndefined();
    const tokens = await t.metric('gen_ai.client.token.usage');
    const byOperation = new Set(tokens.map((p) => p.attributes['gen_ai.operation.name']));
    expect(byOperation.has('fetch_response')).toBe(false);
  });
});

describe('chat finish reasons are countable', () => {
  test('retryscope.client.finish_reasons by retryscope.finish_reason, model and operation', async () => {
    const openai = await client([]);
    const messages = [{ role: 'user' as const, content: 'hi' }];
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 20 });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 2 });
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      max_tokens: 3,
      stream: true,
    });
    for await (const _ of stream) {
    }
    const points = await t.metric('retryscope.client.finish_reasons');
    const byReason = Object.fromEntries(
      points.map((p) => [String(p.attributes['retryscope.finish_reason']), p.value as number]),
    );
    expect(byReason).toEqual({ stop: 1, length: 2 });
    for (const p of points) {
      expect(p.attributes['gen_ai.operation.name']).toBe('chat');
      expect(p.attributes['gen_ai.request.model']).toBe('gpt-4o-mini');
    }
  });
});
