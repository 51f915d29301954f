import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { PeriodicExportingMetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { describe, expect, test } from 'vitest';
import type { DemoReport } from '../../src/demo/report.ts';
import { runDemo } from '../../src/demo/run.ts';
import * as A from '../../src/telemetry/attributes.ts';

const exec = promisify(execFile);
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  exec(process.execPath, ['src/cli/main.ts', ...args], { env: { ...process.env, ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );

/** Keeps every finished span, independently of the demo's own collector. */
function spanSink() {
  const spans: ReadableSpan[] = [];
  return {
    spans,
    processor: {
      onStart() {},
      onEnd: (span: ReadableSpan) => void spans.push(span),
      forceFlush: async () => {},
      shutdown: async () => {},
    },
  };
}

/** An exporting reader whose last export (the final one, at shutdown) is kept. */
function metricSink() {
  const sink: { last?: ResourceMetrics } = {};
  const reader = new PeriodicExportingMetricReader({
    exportIntervalMillis: 3_600_000,
    exporter: {
      export(batch, done) {
        sink.last = batch;
        done({ code: 0 });
      },
      forceFlush: async () => {},
      shutdown: async () => {},
    },
  });
  return { sink, reader };
}

function metricTotal(batch: ResourceMetrics | undefined, name: string): number {
  let total = 0;
  for (const m of batch?.scopeMetrics.flatMap((s) => s.metrics) ?? []) {
    if (m.descriptor.name !== name) continue;
    for (const p of m.dataPoints)
      total += typeof p.value === 'number' ? p.value : (p.value as { count: number }).count;
  }
  return total;
}

describe('runDemo', () => {
  test('the report agrees with the spans and metrics exported in the same run', async () => {
    const traces = spanSink();
    const { sink, reader } = metricSink();
    const report = await runDemo({
      durationSec: 8,
      scenario: 'mixed',
      seed: 7,
      concurrency: 6,
      spanProcessors: [traces.processor],
      metricReaders: [reader],
      onProgress: () => {},
    });
    const spans = traces.spans;
    const ops = spans.filter((s) => s.attributes[A.ATTR_OUTCOME] !== undefined);
    const attempts = spans.filter((s) => s.attributes[A.ATTR_ATTEMPT] !== undefined);
    expect(report.operations.total).toBe(ops.length);
    expect(report.attempts.total).toBe(attempts.length);
    expect(report.metrics.operations).toBe(ops.length);
    expect(report.metrics.attempts).toBe(attempts.length);
    expect(report.quotaExhaustedEvents).toBe(
      attempts.filter((s) => s.attributes[A.ATTR_QUOTA_EXHAUSTED] === true).length,
    );
    expect(report.metrics.quotaExhausted).toBe(report.quotaExhaustedEvents);
    // What the exporting metric pipeline received matches too.
    expect(metricTotal(sink.last, A.METRIC_OPERATION_DURATION)).toBe(ops.length);
    expect(metricTotal(sink.last, A.METRIC_ATTEMPTS)).toBe(attempts.length);
    expect(metricTotal(sink.last, A.METRIC_QUOTA_EXHAUSTED)).toBe(report.quotaExhaustedEvents);
    const byOutcome: Record<string, number> = {};
    for (const op of ops)
      byOutcome[String(op.attributes[A.ATTR_OUTCOME])] =
        (byOutcome[String(op.attributes[A.ATTR_OUTCOME])] ?? 0) + 1;
    expect(report.operations.byOutcome).toEqual(byOutcome);
    expect(Object.values(report.attempts.byErrorType).reduce((a, b) => a + b, 0)).toBe(attempts.length);
    // Every attempt span belongs to an operation span of the same trace.
    const opIds = new Set(ops.map((o) => o.spanContext().spanId));
    for (const a of attempts) expect(opIds.has(a.parentSpanContext!.spanId)).toBe(true);
    expect(report.operations.total).toBeGreaterThan(20);
  });
});

describe('retryscope demo (CLI)', () => {
  test('--json prints a report with every outcome of the mixed scenario', async () => {
    const { code, stdout } = await cli([
      'demo',
      '--duration',
      '12',
      '--json',
      '--no-progress',
      '--seed',
      '3',
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as DemoReport;
    expect(report.scenario).toBe('mixed');
    for (const outcome of [
      'success',
      'quota_exhausted',
      'non_retryable',
      'retries_exhausted',
      'fallback',
      'invalid_request',
    ]) {
      expect(report.operations.byOutcome[outcome] ?? 0, outcome).toBeGreaterThan(0);
    }
    expect(report.operations.successAfterRetries).toBeGreaterThan(0);
    expect(report.traces.length).toBeGreaterThan(0);
  });

  test.each([
    [
      ['demo', '--scenario', 'hurricane'],
      /unknown scenario; choose one of steady, storm, outage, quota, mixed/,
    ],
    [['demo', '--duration', 'soon'], /--duration must be a whole number/],
    [['demo', '--duration', '0'], /--duration must be a whole number from 1/],
    [['demo', '--port', '70000'], /--port must be a whole number from 0 to 65535/],
    [['demo', '--otlp', 'not a url'], /must be an http\(s\) URL/],
  ])('%j: one clear line, non-zero exit, no stack trace', async (args, message) => {
    const { code, stderr } = await cli(args);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  test('Ctrl-C stops cleanly, flushes, and prints the partial report', async () => {
    const child = spawn(process.execPath, [
      'src/cli/main.ts',
      'demo',
      '--duration',
      '60',
      '--json',
      '--no-progress',
    ]);
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Let some calls finish first: the simulator is up once the child has run for a moment.
    await new Promise((r) => setTimeout(r, 4_000));
    child.kill('SIGINT');
    expect(await exit).toBe(130);
    const report = JSON.parse(stdout) as DemoReport;
    expect(report.partial).toBe(true);
    expect(report.operations.total).toBeGreaterThan(0);
    expect(report.metrics.operations).toBe(report.operations.total);
  });

  test('--real without a key refuses with a clear message', async () => {
    const { code, stderr } = await cli(['demo', '--real'], { OPENAI_API_KEY: '' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/--real needs OPENAI_API_KEY/);
  });

  test('an unreachable OTLP endpoint is one warning, and the demo still runs', async () => {
    const { code, stdout, stderr } = await cli([
      'demo',
      '--duration',
      '2',
      '--json',
      '--no-progress',
      '--otlp',
      'http://127.0.0.1:9',
    ]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout).operations.total).toBeGreaterThan(0);
    expect(stderr.match(/unreachable/g)).toHaveLength(1);
  });
});
