/**
 * `retryscope demo`: the instrumented client against the built-in chaos
 * simulator, a live progress line, and a report computed from the exported
 * telemetry. This file only declares the flags: the OpenTelemetry SDK and
 * the simulator load when the command runs (demo-run.ts), so `--help` is quick.
 */
import type { Command } from 'commander';
import { NAMED_SCENARIOS } from '../simulator/scenarios.ts';
import { reportError } from './flags.ts';

export interface DemoFlags {
  duration: string;
  scenario: string;
  seed: string;
  concurrency: string;
  port: string;
  otlp?: string;
  json?: boolean;
  real?: boolean;
  progress: boolean;
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('Run the instrumented client against the built-in chaos simulator and report what happened')
    .option('--duration <seconds>', 'how long to run, 1 s to 24 h: 40, 90s, 2m (the phases share it)', '40')
    .option('--scenario <name>', `one of ${Object.keys(NAMED_SCENARIOS).join(', ')}`, 'mixed')
    .option('--seed <n>', 'seed for the faults and the workload, 0 to 4294967295', '1')
    .option('--concurrency <n>', 'most calls in flight at once, 1 to 500', '8')
    .option('--port <port>', 'simulator port on 127.0.0.1 (0 = a free one)', '0')
    .option(
      '--otlp <url>',
      'export over OTLP/HTTP to this base URL (default: the OTEL_EXPORTER_OTLP_* variables)',
    )
    .option('--json', 'print the report as JSON on stdout')
    .option('--real', 'drive a small, cheap workload against the real API with OPENAI_API_KEY')
    .option('--no-progress', 'no progress line')
    .action(async (flags: DemoFlags) => {
      try {
        const { demo } = await import('./demo-run.ts');
        process.exitCode = await demo(flags);
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
}
