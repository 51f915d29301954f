/**
 * `retryscope demo`: the instrumented client against the built-in chaos
 * simulator, a live progress bar, and a report computed from the exported
 * telemetry. Bad input gets one line and exit code 1, never a stack trace.
 */
import { connect } from 'node:net';
import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import type { Tally } from '../demo/collector.ts';
import { formatReport } from '../demo/format.ts';
import { runDemo } from '../demo/run.ts';
import { NAMED_SCENARIOS } from '../simulator/scenarios.ts';
import type { NamedScenario } from '../simulator/types.ts';
import { demoTelemetrySettings, type TelemetrySettings } from '../telemetry/env.ts';

interface DemoFlags {
  duration: number;
  scenario: NamedScenario;
  seed: number;
  concurrency: number;
  port: number;
  otlp?: string;
  json?: boolean;
  real?: boolean;
  progress: boolean;
}

const int = (name: string, min: number, max: number) => (text: string) => {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}.`);
  }
  return n;
};

const scenario = (text: string): NamedScenario => {
  if (!(text in NAMED_SCENARIOS)) {
    throw new InvalidArgumentError(
      `unknown scenario; choose one of ${Object.keys(NAMED_SCENARIOS).join(', ')}.`,
    );
  }
  return text as NamedScenario;
};

const url = (text: string) => {
  try {
    const parsed = new URL(text);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error();
    return text;
  } catch {
    throw new InvalidArgumentError('must be an http(s) URL such as http://localhost:4318.');
  }
};

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('Run the instrumented client against the built-in chaos simulator and report what happened')
    .option(
      '--duration <seconds>',
      'how long to run (the scenario phases scale with it)',
      int('--duration', 1, 3600),
      40,
    )
    .option('--scenario <name>', `one of ${Object.keys(NAMED_SCENARIOS).join(', ')}`, scenario, 'mixed')
    .option('--seed <n>', 'seed for the faults and the workload mix', int('--seed', 0, 2 ** 31), 1)
    .option('--concurrency <n>', 'concurrent callers', int('--concurrency', 1, 500), 8)
    .option('--port <port>', 'simulator port on 127.0.0.1 (0 = a free one)', int('--port', 0, 65_535), 0)
    .option(
      '--otlp <url>',
      'export over OTLP/HTTP to this base URL (default: the OTEL_EXPORTER_OTLP_*ENDPOINT variables)',
      url,
    )
    .option('--json', 'print the report as JSON on stdout')
    .option('--real', 'drive a small, cheap workload against the real API with OPENAI_API_KEY')
    .option('--no-progress', 'no progress bar')
    .action(async (flags: DemoFlags) => {
      process.exitCode = await demo(flags);
    });
}

async function demo(flags: DemoFlags): Promise<number> {
  const apiKey = process.env.OPENAI_API_KEY;
  if (flags.real && !apiKey) {
    return fail('--real needs OPENAI_API_KEY set to a real key; without --real the demo needs no key.');
  }
  // The standard OTEL_* variables, shared with startTelemetry(); --otlp wins over the endpoint ones.
  let telemetry: TelemetrySettings;
  try {
    telemetry = demoTelemetrySettings(flags.otlp ? { otlp: flags.otlp } : {});
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  telemetry = await withoutUnreachable(telemetry);
  const exporting = telemetry.traces !== undefined || telemetry.metrics !== undefined;

  const interrupted = new AbortController();
  const onSigint = () => interrupted.abort();
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  const bar = flags.progress ? progressBar(flags.real ? 6 : flags.duration) : undefined;
  try {
    const report = await runDemo({
      durationSec: flags.duration,
      scenario: flags.scenario,
      seed: flags.seed,
      concurrency: flags.concurrency,
      port: flags.port,
      telemetry,
      ...(flags.real && apiKey ? { real: { apiKey } } : {}),
      signal: interrupted.signal,
      ...(bar ? { onProgress: bar.update } : {}),
    });
    bar?.stop();
    if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(`${formatReport(report)}\n`);
    if (!exporting) {
      process.stderr.write(
        'Not exported. To see this run in Jaeger and Grafana: `docker compose up -d`, then rerun with ' +
          '--otlp http://localhost:4318 (or OTEL_EXPORTER_OTLP_ENDPOINT).\n',
      );
    }
    return report.partial ? 130 : 0;
  } catch (error) {
    bar?.stop();
    return fail(error instanceof Error ? error.message : String(error));
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

function fail(message: string): number {
  process.stderr.write(`retryscope demo: ${message}\n`);
  return 1;
}

/**
 * Drops each signal whose endpoint does not accept a TCP connection, with one
 * warning per endpoint, so a typo is reported up front, not as a stream of export errors.
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
      `retryscope demo: warning: OTLP endpoint ${origin} (${sources}) is unreachable (${problem}); ` +
        `${none ? 'running without export' : `not exporting ${signals.join(' or ')}`}\n`,
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

function progressBar(totalSec: number) {
  const bar = new SingleBar({
    format:
      ' {bar} {value}/{total}s | ops {ops} | ok {ok} (after retries {retried}, fallback {fallback}) | failed {failed}{classes} | quota {quota}',
    barsize: 24,
    hideCursor: true,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 5_000,
  });
  bar.start(totalSec, 0, { ops: 0, ok: 0, retried: 0, fallback: 0, failed: 0, classes: '', quota: 0 });
  return {
    update(tally: Tally, elapsedSec: number) {
      const classes = Object.entries(tally.failedByClass)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3)
        .map(([name, n]) => `${name} ${n}`)
        .join(', ');
      bar.update(Math.min(totalSec, Math.floor(elapsedSec)), {
        ops: tally.operations,
        ok: tally.ok,
        retried: tally.retried,
        fallback: tally.fallback,
        failed: tally.failed,
        classes: classes ? ` (${classes})` : '',
        quota: tally.quota,
      });
    },
    stop: () => bar.stop(),
  };
}
