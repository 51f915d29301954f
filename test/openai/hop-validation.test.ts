import { describe, expect, test } from 'vitest';
import {
  getAttemptHistory,
  InvalidRequestError,
  QuotaExhaustedError,
  servedByFallback,
} from '../../src/index.ts';
import { scriptedClients } from '../helpers/scripted-client.ts';
import { chatCompletion, quotaExhausted } from '../helpers/scripted-server.ts';

// Every hop is validated against its own model before it is sent: a fallback whose model
// cannot take the request is skipped unsent, and the operation span says which and why.

/** `tiny` takes 50 tokens: the prompt below (300 words) cannot fit it; the others are unknown, so unchecked. */
const WINDOWS = { contextWindows: { tiny: 50 } };
const long = [{ role: 'user' as const, content: 'word '.repeat(300) }];
const scripted = scriptedClients({ validate: WINDOWS });
const { t, client } = scripted;

/** The server answers per model: `out-of-quota` has none left, every other model answers. */
function answerByModel() {
  scripted.server.replyWith((request) => {
    const model = (request.body as { model: string }).model;
    return model === 'out-of-quota' ? quotaExhausted() : { json: chatCompletion(`from ${model}`, model) };
  });
}
const sentModels = () => scripted.server.received.map((r) => (r.body as { model: string }).model);

async function operation() {
  const all = await t.spans();
  return {
    op: all.find((s) => s.attributes['retryscope.outcome'] !== undefined)!,
    attempts: all.filter((s) => s.attributes['retryscope.attempt'] !== undefined),
  };
}

const skipped = (index: number, model: string, code = 'context_length_exceeded', param = 'messages') => ({
  name: 'retryscope.hop_skipped',
  attributes: {
    'retryscope.fallback_index': index,
    'gen_ai.request.model': model,
    'retryscope.validation.code': code,
    'retryscope.validation.param': param,
  },
});
const events = (span: { events: { name: string; attributes?: unknown }[] }) =>
  span.events.map((e) => ({ name: e.name, attributes: e.attributes }));

describe('every hop validated against its own model', () => {
  test('a fallback to a model whose window the prompt cannot fit is skipped unsent; the next one serves', async () => {
    answerByModel();
    const openai = client({ fallbacks: [{ model: 'tiny' }, { model: 'roomy' }] });
    const r = await openai.chat.completions.create({ model: 'out-of-quota', messages: long });
    expect(r.choices[0]!.message.content).toBe('from roomy');
    expect(sentModels()).toEqual(['out-of-quota', 'roomy']);
    expect(servedByFallback(r)).toMatchObject({
      fallbackIndex: 2,
      model: 'roomy',
      reason: 'quota_exhausted',
    });

    const { op, attempts } = await operation();
    expect(events(op)).toEqual([skipped(1, 'tiny')]);
    expect(op.attributes['retryscope.hops_skipped']).toBe(1);
    expect(op.attributes['retryscope.outcome']).toBe('fallback');
    expect(op.attributes['retryscope.fallback_index']).toBe(2);
    // No attempt span for the skipped hop: it was never sent.
    expect(attempts.map((a) => a.attributes['retryscope.fallback_index'])).toEqual([0, 2]);
  });

  test('a call no hop skips carries no event and no count', async () => {
    answerByModel();
    await client({ fallbacks: [{ model: 'tiny' }] }).chat.completions.create({
      model: 'roomy',
      messages: long,
    });
    const { op } = await operation();
    expect(op.events).toEqual([]);
    expect(op.attributes['retryscope.hops_skipped']).toBeUndefined();
  });

  test('with every fallback skipped, the caller gets the last hop that was sent: its error and its history', async () => {
    answerByModel();
    const openai = client({ fallbacks: [{ model: 'tiny' }] });
    const error = await openai.chat.completions
      .create({ model: 'out-of-quota', messages: long })
      .catch((e) => e);
    expect(error).toBeInstanceOf(QuotaExhaustedError);
    expect(sentModels()).toEqual(['out-of-quota']);
    expect(getAttemptHistory(error)?.history.map((h) => h.fallbackIndex)).toEqual([0]);
    const { op } = await operation();
    expect(events(op)).toEqual([skipped(1, 'tiny')]);
    expect(op.attributes['retryscope.outcome']).toBe('quota_exhausted');
  });

  test("fallbackOn 'invalid_request': a primary its own model refuses is answered by the fallback", async () => {
    answerByModel();
    const openai = client({
      fallbacks: [{ model: 'roomy' }],
      fallbackOn: ['retries_exhausted', 'invalid_request'],
    });
    const r = await openai.chat.completions.create({ model: 'tiny', messages: long });
    expect(r.choices[0]!.message.content).toBe('from roomy');
    expect(sentModels()).toEqual(['roomy']);
    expect(servedByFallback(r)).toEqual({
      fallbackIndex: 1,
      model: 'roomy',
      reason: 'invalid_request',
      degraded: false,
    });
    const { op, attempts } = await operation();
    expect(events(op)).toEqual([skipped(0, 'tiny')]);
    expect(op.attributes['retryscope.hops_skipped']).toBe(1);
    expect(op.attributes['retryscope.outcome']).toBe('fallback');
    expect(op.attributes['retryscope.fallback_reason']).toBe('invalid_request');
    expect(attempts.map((a) => a.attributes['gen_ai.request.model'])).toEqual(['roomy']);
  });

  test("without 'invalid_request' in fallbackOn a refused primary is refused as before: nothing sent, no hop tried", async () => {
    answerByModel();
    const openai = client({ fallbacks: [{ model: 'roomy' }] });
    const error = await openai.chat.completions.create({ model: 'tiny', messages: long }).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error.code).toBe('context_length_exceeded');
    expect(scripted.server.received).toEqual([]);
    const { op, attempts } = await operation();
    expect(op.attributes['retryscope.outcome']).toBe('invalid_request');
    expect(op.events).toEqual([]);
    expect(attempts).toEqual([]);
  });

  test("every hop skipped: the caller gets the primary's InvalidRequestError, and degrade does not answer", async () => {
    answerByModel();
    let degraded = false;
    const openai = client({
      fallbacks: [{ model: 'tiny-b' }, { model: 'tiny-c' }],
      fallbackOn: ['invalid_request'],
      validate: { contextWindows: { tiny: 50, 'tiny-b': 60, 'tiny-c': 70 } },
      degrade: () => {
        degraded = true;
        return {};
      },
    });
    const error = await openai.chat.completions.create({ model: 'tiny', messages: long }).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    // The primary's own refusal: its window, not a fallback's.
    expect(error.message).toMatch(/maximum context length is 50 tokens/);
    expect(getAttemptHistory(error)).toMatchObject({ outcome: 'invalid_request', attempts: 0 });
    expect(degraded).toBe(false);
    expect(scripted.server.received).toEqual([]);
    const { op } = await operation();
    expect(events(op)).toEqual([skipped(0, 'tiny'), skipped(1, 'tiny-b'), skipped(2, 'tiny-c')]);
    expect(op.attributes['retryscope.hops_skipped']).toBe(3);
    expect(op.attributes['retryscope.outcome']).toBe('invalid_request');
    expect(op.attributes['error.type']).toBe('InvalidRequestError');
  });

  test('a problem no model can fix (a parameter out of range) skips every hop, with its param on each event', async () => {
    answerByModel();
    const openai = client({ fallbacks: [{ model: 'roomy' }], fallbackOn: ['invalid_request'] });
    const error = await openai.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], temperature: 3 })
      .catch((e) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error.param).toBe('temperature');
    expect(scripted.server.received).toEqual([]);
    const { op } = await operation();
    expect(events(op)).toEqual([
      skipped(0, 'gpt-4o', 'invalid_value', 'temperature'),
      skipped(1, 'roomy', 'invalid_value', 'temperature'),
    ]);
  });

  test('validate: false checks no hop: the fallback is sent and the API decides', async () => {
    answerByModel();
    const openai = client({ validate: false, fallbacks: [{ model: 'tiny' }] });
    const r = await openai.chat.completions.create({ model: 'out-of-quota', messages: long });
    expect(r.choices[0]!.message.content).toBe('from tiny');
    expect(sentModels()).toEqual(['out-of-quota', 'tiny']);
  });
});
