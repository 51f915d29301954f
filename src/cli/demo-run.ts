/** What `retryscope demo` does once its flags are parsed. */
import { connect } from 'node:net';
import { redactUrl } from '../redact.ts';
import type { TelemetrySettings } from '../telemetry/env.ts';
import type { DemoFlags } from './demo.ts';
import * as parse from './flags.ts';
import { reportError, UsageError, warningLine } from './flags.ts';

export async function demo(flags: DemoFlags): Promise<number> {
  const options = {
    durationSec: parse.durationMs(flags.duration) / 1000,
    scenario: parse.scenario(flags.scenario),
    seed: parse.seed(flags.seed),
    concurrency: parse.integer('--concurrency', flags.concurrency, 1, 500, 8),
    port: parse.port(flags.port),
  };
  const apiKey = process.env.OPENAI_API_KEY?.trim();
  if (flags.real && !apiKey) {
    throw new UsageError(
      'OPENAI_API_KEY is not set, and --real needs a real key',
      'set OPENAI_API_KEY, or drop --real: the simulator needs no key',
    );
  }
  if (flags.otlp !== undefined) parse.httpUrl('--otlp', flags.otlp, 'http://localhost:4318');
  const telemetry = await withoutUnreachable(await telemetryFromEnv(flags.otlp));
  const exporting = telemetry.traces !== undefined || telemetry.metrics !== undefined;

  // Only now the OpenTelemetry SDK and the simulator: a mistake above is answered without them.
  const [{ runDemo }, { formatReport, wrap }, { ProgressRenderer }] = await Promise.all([
    import('../demo/run.ts'),
    import('../demo/format.ts'),
    import('../demo/progress.ts'),
  ]);
  const interrupted = new AbortController();
  const onSigint = () => interrupted.abort();
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  const progress = flags.progress ? new ProgressRenderer(process.stderr) : undefined;
  try {
    const report = await runDemo({
      ...options,
      telemetry,
      ...(flags.real && apiKey ? { real: { apiKey } } : {}),
      signal: interrupted.signal,
      ...(progress ? { onProgress: (state) => progress.update(state) } : {}),
    });
    progress?.stop();
    if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(`${formatReport(report)}\n`);
    if (!exporting) {
      const hint =
        'Not exported. To see this run in Jaeger and Grafana: `retryscope stack` sets up the bundled stack, ' +
        'then rerun with --otlp http://localhost:4318 (or set OTEL_EXPORTER_OTLP_ENDPOINT).';
      process.stderr.write(`${wrap(hint).join('\n')}\n`);
    }
    return report.partial ? 130 : 0;
  } catch (error) {
    progress?.stop();
    return reportError(error);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

/**
 * The standard OTEL_* variables, read by the same function as startTelemetry()
 * (per-signal endpoints, headers and protocols first); `--otlp` wins over the
 * endpoint ones. A variable it cannot honour is a usage error naming it.
 */
async function telemetryFromEnv(otlp: string | undefined): Promise<TelemetrySettings> {
  const [{ demoTelemetrySettings }, { RetryscopeConfigError }] = await Promise.all([
    import('../telemetry/env.ts'),
    import('../options.ts'),
  ]);
  try {
    return demoTelemetrySettings(otlp !== undefined ? { otlp } : {});
  } catch (error) {
    if (error instanceof RetryscopeConfigError) {
      throw new UsageError(error.message.replace(/\.$/, ''), 'correct it, or unset it');
    }
    throw error;
  }
}

/**
 * Drops each signal whose endpoint does not accept a TCP connection, with one
 * warning per endpoint, so a typo is reported once, up front, not as a stream of export errors.
 */
async function withoutUnreachable(telemetry: TelemetrySettings): Promise<TelemetrySettings> {
  const byOrigin = new Map<string, ('traces' | 'metrics')[]>();
  for (const signal of ['traces', 'metrics'] as const) {
    const target = telemetry[signal];
    if (!target) continue;
    const origin = new URL(target.url).origin;
    byOrigin.set(origin, [...(byOrigin.get(origin) ?? []), signal]);
  }
  let out = telemetry;
  for (const [origin, signals] of byOrigin) {
    const problem = await unreachable(origin);
    if (!problem) continue;
    const sources = [...new Set(signals.map((s) => telemetry[s]!.source))].join(', ');
    out = { ...out, ...Object.fromEntries(signals.map((s) => [s, undefined])) };
    const none = out.traces === undefined && out.metrics === undefined;
    process.stderr.write(
      warningLine(
        `OTLP endpoint ${redactUrl(origin)} (from ${sources}) is unreachable (${problem}); ` +
          (none ? 'running without export' : `not exporting ${signals.join(' or ')}`),
      ),
    );
  }
  return out;
}

/** A TCP connect to the endpoint's host and port. */
function unreachable(endpoint: string): Promise<string | undefined> {
  const u = new URL(endpoint);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname, port });
    const done = (problem?: string) => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(2_000, () => done('timed out'));
    socket.once('connect', () => done());
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
  });
}
