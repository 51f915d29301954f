import { context, metrics, trace } from '@opentelemetry/api';
import { afterEach, expect, test } from 'vitest';
import { ATTR_GEN_AI_OPERATION_NAME, ATTR_OUTCOME } from '../../src/telemetry/attributes.ts';
import { Telemetry } from '../../src/telemetry/recorder.ts';
import { createTestTelemetry } from '../helpers/otel.ts';

// The no-op fast path: with no SDK behind the API, nothing builds attributes. It must switch off
// only then: a provider registered later (after instrument()) gets every attribute, as before.

const start = { operationName: 'chat', api: 'chat_completions', requestModel: 'gpt-4.1', stream: false };
const end = {
  outcome: 'success' as const,
  attempts: 1,
  backoffTotalMs: 0,
  budgetExhausted: false,
  quotaFromFleet: false,
};

afterEach(() => {
  trace.disable();
  metrics.disable();
});

test('with no SDK registered, tracing and metrics are off', () => {
  const telemetry = new Telemetry();
  expect(telemetry.tracingOff).toBe(true);
  expect(telemetry.instruments.off).toBe(true);
  // Explicit providers are never taken for no-ops.
  const { tracerProvider, meterProvider } = createTestTelemetry();
  const explicit = new Telemetry({ tracerProvider, meterProvider });
  expect(explicit.tracingOff).toBe(false);
  expect(explicit.instruments.off).toBe(false);
});

test('a global SDK registered after the client was made records every attribute', async () => {
  const telemetry = new Telemetry();
  expect(telemetry.tracingOff).toBe(true);
  const t = createTestTelemetry();
  trace.setGlobalTracerProvider(t.tracerProvider);
  metrics.setGlobalMeterProvider(t.meterProvider);
  expect(telemetry.tracingOff).toBe(false);
  expect(telemetry.instruments.off).toBe(false);
  telemetry.startOperation(start, context.active()).ended(end);
  const [span] = await t.spans();
  expect(span!.attributes).toMatchObject({ [ATTR_GEN_AI_OPERATION_NAME]: 'chat', [ATTR_OUTCOME]: 'success' });
  expect(await t.metric('gen_ai.client.operation.duration')).toHaveLength(1);
});
