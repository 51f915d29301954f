/** What `retryscope demo` does once its flags are parsed. */
import { connect } from 'node:net';
import type { DemoOptions } from '../demo/run.ts';
import { redactUrl } from '../redact.ts';
import type { DemoFlags } from './demo.ts';
import * as parse from './flags.ts';
import { reportError, UsageError, warningLine } from './flags.ts';

const ENDPOINT = 'OTEL_EXPORTER_OTLP_ENDPOINT';
const SIGNAL_ENDPOINTS = {
  traces: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  metrics: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
} as const;

/** Where the demo exports: the `--otlp` base URL, or what the standard variables say, or nowhere. */
interface ExportTarget {
  options: Pick<DemoOptions, 'otlp' | 'otlpFromEnv'>;
  /** Each URL to probe, with what set it (for the warning). */
  endpoints: { url: string; source: string }[];
}

/**
 * Reads the endpoints only to check them up front (a typo is one line that
 * names the variable); the exporters themselves apply the variables, per
 * signal first, as the OpenTelemetry spec says.
 */
function exportTarget(flag: string | undefined, env: NodeJS.ProcessEnv): ExportTarget | undefined {
  if (flag !== undefined) {
    const base = parse.httpUrl('--otlp', flag, 'http://localhost:4318');
    return { options: { otlp: base }, endpoints: [{ url: base, source: '--otlp' }] };
  }
  const value = (name: string) => (env[name] ?? '').trim() || undefined;
  const generic = value(ENDPOINT);
  if (generic !== undefined) parse.httpUrl(ENDPOINT, generic, 'http://localhost:4318');
  const endpoints: ExportTarget['endpoints'] = [];
  for (const [signal, name] of Object.entries(SIGNAL_ENDPOINTS)) {
    const own = value(name);
    if (own !== undefined) {
      endpoints.push({ url: parse.httpUrl(name, own, `http://localhost:4318/v1/${signal}`), source: name });
    } else if (generic !== undefined) endpoints.push({ url: generic, source: ENDPOINT });
  }
  if (endpoints.length === 0) return undefined;
  // A signal with no variable of its own goes to the exporter's default, localhost:4318.
  if (endpoints.length < 2 && generic === undefined) {
    endpoints.push({ url: 'http://localhost:4318', source: 'the default for the other signal' });
  }
  return { options: { otlpFromEnv: true }, endpoints };
}

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
  let target = exportTarget(flags.otlp, process.env);
  for (const { url, source } of target?.endpoints ?? []) {
    const problem = await unreachable(url);
    if (problem) {
      process.stderr.write(
        warningLine(
          `OTLP endpoint ${redactUrl(url)} (from ${source}) is unreachable (${problem}); running without export`,
        ),
      );
      target = undefined;
      break;
    }
  }

  // Only now the OpenTelemetry SDK and the simulator: a mistake above is answered without them.
  const [{ runDemo }, { formatReport }, { ProgressRenderer }] = await Promise.all([
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
      ...(target?.options ?? {}),
      ...(flags.real && apiKey ? { real: { apiKey } } : {}),
      signal: interrupted.signal,
      ...(progress ? { onProgress: (state) => progress.update(state) } : {}),
    });
    progress?.stop();
    if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(`${formatReport(report)}\n`);
    if (!target) {
      process.stderr.write(
        'Not exported. To see this run in Jaeger and Grafana: `retryscope stack` sets up the bundled stack, ' +
          'then rerun with --otlp http://localhost:4318 (or set OTEL_EXPORTER_OTLP_ENDPOINT).\n',
      );
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

/** A TCP connect to the endpoint, so a typo is reported once, up front, not as a stream of export errors. */
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
