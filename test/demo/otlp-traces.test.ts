import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { OtlpReceiver } from '../helpers/otlp-receiver.ts';

const exec = promisify(execFile);
let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await new OtlpReceiver().start();
});
afterAll(() => receiver.close());

test("the demo's OTLP/HTTP trace export carries the span tree and the attributes of the contract", async () => {
  // The demo moves through every phase of `mixed` by its plan, not by the clock: however slow the
  // machine, seed 1 at 8 s reaches the outage (retries) and spends the quota phase's tokens
  // (insufficient_quota), because the calls of each phase are fixed by the seed and duration.
  const { stdout } = await exec(
    process.execPath,
    [
      'src/cli/main.ts',
      'demo',
      '--duration',
      '8',
      '--seed',
      '1',
      '--json',
      '--no-progress',
      '--otlp',
      receiver.url,
    ],
    { env: { ...process.env, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' } },
  );
  const report = JSON.parse(stdout);
  expect(report.phases.map((p: { name: string }) => p.name)).toEqual(['steady', 'storm', 'outage', 'quota']);
  const spans = receiver.spans();
  const ops = spans.filter((s) => s.attributes['retryscope.outcome'] !== undefined);
  const attempts = spans.filter((s) => s.attributes['retryscope.attempt'] !== undefined);
  // Everything the report counted was exported, and nothing else (the unpaced storm comparison stays in memory).
  expect(ops).toHaveLength(report.operations.total);
  expect(attempts).toHaveLength(report.attempts.total);

  const byId = new Map(ops.map((o) => [o.spanId, o]));
  for (const a of attempts) {
    const parent = byId.get(a.parentSpanId ?? '');
    expect(parent, 'every attempt has its operation as parent').toBeDefined();
    expect(a.traceId).toBe(parent!.traceId);
    expect(a.kind).toBe(3); // SPAN_KIND_CLIENT in OTLP
    expect(typeof a.attributes['retryscope.backoff_ms']).toBe('number');
    expect(['none', 'exponential', 'retry-after', 'retry-after-ms', 'limiter']).toContain(
      a.attributes['retryscope.backoff_source'],
    );
  }
  const retried = attempts.find((a) => a.attributes['retryscope.attempt'] === 2)!;
  expect(retried.attributes['http.request.resend_count']).toBe(1);
  const failed = attempts.find((a) => a.attributes['error.type'] !== undefined)!;
  expect(typeof failed.attributes['retryscope.retryable']).toBe('boolean');
  const op = ops.find((o) => o.attributes['gen_ai.operation.name'] === 'chat')!;
  expect(op.name).toMatch(/^chat gpt-4o/);
  for (const key of [
    'gen_ai.provider.name',
    'gen_ai.request.model',
    'server.address',
    'server.port',
    'retryscope.attempts',
    'retryscope.backoff_total_ms',
  ]) {
    expect(op.attributes, key).toHaveProperty([key]);
  }
  expect(attempts.some((a) => a.attributes['retryscope.ratelimit.remaining_requests'] !== undefined)).toBe(
    true,
  );
  expect(attempts.some((a) => a.attributes['retryscope.quota_exhausted'] === true)).toBe(true);

  // Metrics went over protobuf to the same receiver.
  expect(receiver.requests('/v1/metrics')).toBeGreaterThan(0);
  // No API key and no URL with credentials or a query string anywhere in what was exported.
  const everything = receiver.bodies.map((b) => b.body.toString('latin1')).join('\n');
  expect(everything).not.toContain('sk-sim-demo');
  expect(everything).not.toContain('sk-sim-revoked');
  expect(everything.toLowerCase()).not.toContain('bearer');
  expect(everything).not.toContain('retryscope-demo-unpaced');
});
