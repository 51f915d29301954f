import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { PeriodicExportingMetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { describe, expect, test } from 'vitest';
import type { ProgressState } from '../../src/demo/progress.ts';
import type { DemoReport } from '../../src/demo/report.ts';
import { runDemo } from '../../src/demo/run.ts';
import { NAMED_SCENARIOS } from '../../src/simulator/scenarios.ts';
import * as A from '../../src/telemetry/attributes.ts';
import { OtlpReceiver } from '../helpers/otlp-receiver.ts';

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
  test('the report agrees with the spans and metrics exported in the same run, and with the progress line', async () => {
    const traces = spanSink();
    const { sink, reader } = metricSink();
    let last: ProgressState | undefined;
    const report = await runDemo({
      durationSec: 5,
      scenario: 'mixed',
      seed: 7,
      concurrency: 6,
      spanProcessors: [traces.processor],
      metricReaders: [reader],
      onProgress: (state) => {
        last = structuredClone(state);
      },
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
    // What the exporting metric pipeline received matches too: the unpaced comparison is not exported.
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

    // The progress line's last numbers are the report's: one definition, counted from the same spans.
    expect(last!.tally.operations).toBe(report.operations.total);
    expect(last!.tally.byOutcome).toEqual(report.operations.byOutcome);
    expect(last!.tally.successAfterRetries).toBe(report.operations.successAfterRetries);
    expect(last!.tally.quotaEvents).toBe(report.quotaExhaustedEvents);

    // Every phase ran all its planned calls, in the scenario's order, and the numbers add up.
    expect(report.phases.map((p) => p.name)).toEqual(NAMED_SCENARIOS.mixed.phases.map((p) => p.name));
    for (const phase of report.phases) expect(phase.operations, phase.name).toBe(phase.plannedCalls);
    expect(report.phases.reduce((sum, p) => sum + p.operations, 0)).toBe(report.operations.total);
    expect(report.phases.reduce((sum, p) => sum + p.attempts, 0)).toBe(report.attempts.total);
    expect(report.phases.at(-1)!.quotaExhaustedEvents).toBe(report.quotaExhaustedEvents);
    expect(report.durationSec).toBe(5);
    // The library's 4 attempts, not 3: gpt-4o is down for the whole outage, so its first call there
    // takes all four before it falls back (the README's four-attempt waterfall can occur).
    expect(report.policy.maxAttempts).toBe(4);
    const firstHop = new Map<string, number>();
    for (const a of attempts) {
      if (Number(a.attributes[A.ATTR_FALLBACK_INDEX] ?? 0) !== 0) continue;
      const parent = a.parentSpanContext!.spanId;
      firstHop.set(parent, (firstHop.get(parent) ?? 0) + 1);
    }
    expect(Math.max(...firstHop.values())).toBe(4);

    // The storm's calls were also sent without the limiter, against a simulator of their own.
    const storm = report.storm!;
    expect(storm.phase).toBe('storm');
    const stormPhase = report.phases.find((p) => p.name === 'storm')!;
    expect(storm.calls).toBe(stormPhase.plannedCalls);
    expect(storm.withLimiter.operations).toBe(storm.calls);
    expect(storm.withLimiter.requests).toBe(stormPhase.attempts);
    expect(storm.withoutLimiter.operations).toBe(storm.calls);
    expect(storm.withoutLimiter.rateLimited).toBeLessThanOrEqual(storm.withoutLimiter.requests);
    expect(storm.withoutLimiter.queuedCalls).toBe(0);
  });

  test('the same seed and duration give the same calls in every phase, whatever the machine does', async () => {
    const run = () =>
      runDemo({ durationSec: 4, scenario: 'mixed', seed: 11, concurrency: 6, compareStorm: false });
    const first = await run();
    const second = await run();
    const plan = (r: DemoReport) => r.phases.map((p) => [p.name, p.plannedCalls, p.operations]);
    expect(plan(second)).toEqual(plan(first));
    // The steady phase has no faults and room to spare: its outcomes are exactly the same too.
    expect(second.phases[0]!.byOutcome).toEqual(first.phases[0]!.byOutcome);
    expect(second.phases[0]!.attempts).toBe(first.phases[0]!.attempts);
    // And every phase is reached, all its calls made, however long the run takes here.
    for (const r of [first, second]) for (const p of r.phases) expect(p.operations).toBe(p.plannedCalls);
  });
});

describe('retryscope demo (CLI)', () => {
  test('--json prints a report with every outcome of the mixed scenario, and the duration asked for', async () => {
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
    expect(report.durationSec).toBe(12);
    // The outcomes the plan guarantees: a revoked key, a refused request, a model down for the whole
    // outage (its calls fall back), a quota phase that runs dry. How many calls end retries_exhausted
    // depends on which request meets which fault roll, so it is not asserted here.
    for (const outcome of ['success', 'quota_exhausted', 'non_retryable', 'fallback', 'invalid_request']) {
      expect(report.operations.byOutcome[outcome] ?? 0, outcome).toBeGreaterThan(0);
    }
    expect(report.operations.successAfterRetries).toBeGreaterThan(0);
    expect(report.traces.some((t) => t.attempts.length > 1)).toBe(true);
    expect(report.storm?.withoutLimiter.operations).toBe(report.storm?.calls);
  });

  test('Ctrl-C stops cleanly, flushes, and prints the partial report', async () => {
    const child = spawn(process.execPath, ['src/cli/main.ts', 'demo', '--duration', '60', '--json']);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Off a terminal the progress line is printed now and then: wait for one that counts a finished call.
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d) => {
        stderr += d;
        if (/\bops [1-9]|\b[1-9]\d* ops\b/.test(stderr)) resolve();
      });
    });
    child.kill('SIGINT');
    expect(await exit).toBe(130);
    const report = JSON.parse(stdout) as DemoReport;
    expect(report.partial).toBe(true);
    expect(report.operations.total).toBeGreaterThan(0);
    expect(report.metrics.operations).toBe(report.operations.total);
  });

  test('per-signal endpoints win: metrics go to OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, traces to the generic one', async () => {
    const traces = await new OtlpReceiver().start();
    const metrics = await new OtlpReceiver().start();
    try {
      const { code, stderr } = await cli(['demo', '--duration', '2', '--json', '--no-progress'], {
        OTEL_EXPORTER_OTLP_ENDPOINT: traces.url,
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${metrics.url}/custom/metrics`,
      });
      expect(code, stderr).toBe(0);
      expect(stderr).not.toContain('unreachable');
      expect(traces.requests('/v1/traces')).toBeGreaterThan(0);
      expect(traces.requests('/v1/metrics')).toBe(0);
      expect(metrics.requests('/custom/metrics')).toBeGreaterThan(0);
      expect(metrics.requests('/v1/traces')).toBe(0);
    } finally {
      await traces.close();
      await metrics.close();
    }
  });

  test('an unreachable OTLP endpoint is one warning naming where it came from, and the demo still runs', async () => {
    const { code, stdout, stderr } = await cli(['demo', '--duration', '2', '--json', '--no-progress'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
    });
    expect(code).toBe(0);
    expect(JSON.parse(stdout).operations.total).toBeGreaterThan(0);
    expect(stderr.match(/unreachable/g)).toHaveLength(1);
    expect(stderr).toContain(
      'retryscope: warning: OTLP endpoint http://127.0.0.1:9 (from OTEL_EXPORTER_OTLP_ENDPOINT) is unreachable',
    );
  });
});
