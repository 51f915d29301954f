/**
 * The real feed: `retryscope demo` against its built-in simulator, exporting
 * OTLP/HTTP protobuf to the engine under test every 2 seconds.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './tools.ts';

const run = promisify(execFile);

export const DEMO_SECONDS = 20;

/** Runs the demo for DEMO_SECONDS against `otlpBase` (the demo appends /v1/metrics). */
export async function feedFromDemo(otlpBase: string): Promise<unknown> {
  const args = [
    join(ROOT, 'src/cli/main.ts'),
    'demo',
    '--duration',
    String(DEMO_SECONDS),
    '--json',
    '--no-progress',
    '--otlp',
    otlpBase,
  ];
  try {
    const { stdout } = await run(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, OTEL_METRIC_EXPORT_INTERVAL: '2000' },
      timeout: 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return JSON.parse(stdout);
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string };
    throw new Error(`retryscope demo failed:\n${e.stderr ?? ''}${(e.stdout ?? '').slice(0, 2000)}`);
  }
}
