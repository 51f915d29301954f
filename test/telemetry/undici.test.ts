/**
 * retryscope beside `@opentelemetry/instrumentation-undici`: the SDK's fetch
 * goes through undici, so each attempt gets one HTTP span of undici's, and
 * that span's parent is the retryscope attempt span (the send runs in the
 * attempt's context).
 */
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { instrument } from '../../src/index.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry } from '../helpers/otel.ts';
import { chatCompletion, rateLimited, ScriptedServer } from '../helpers/scripted-server.ts';

let server: ScriptedServer;
const t = createTestTelemetry();
const undici = new UndiciInstrumentation();
beforeAll(async () => {
  server = await new ScriptedServer().start();
  undici.setTracerProvider(t.tracerProvider);
  undici.enable();
});
afterAll(async () => {
  undici.disable();
  await server.close();
});

test('each attempt span has exactly one undici HTTP span under it', async () => {
  server.reply(rateLimited(1), { json: chatCompletion('Paris.') });
  const openai = instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-test-undici-0000' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock().clock,
  });
  const r = await openai.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }],
  });
  expect(r.choices[0]!.message.content).toBe('Paris.');
  const spans = await t.spans();
  const attempts = spans.filter((s) => s.attributes['retryscope.attempt'] !== undefined);
  const http = spans.filter((s) => s.instrumentationScope.name === '@opentelemetry/instrumentation-undici');
  expect(attempts).toHaveLength(2);
  expect(http).toHaveLength(2);
  const attemptIds = new Set(attempts.map((a) => a.spanContext().spanId));
  for (const h of http) {
    expect(attemptIds.has(h.parentSpanContext?.spanId ?? '')).toBe(true);
    expect(h.attributes['http.request.method']).toBe('POST');
  }
  // One under each attempt, not both under one.
  expect(new Set(http.map((h) => h.parentSpanContext?.spanId)).size).toBe(2);
  const statuses = http.map((h) => h.attributes['http.response.status_code']).sort();
  expect(statuses).toEqual([200, 429]);
});
