/**
 * `retryscope simulate`: runs the chaos simulator until Ctrl-C, then prints
 * what it saw. This file only declares the flags; the simulator itself loads
 * when the command runs (simulate-run.ts).
 */
import type { Command } from 'commander';
import { NAMED_SCENARIOS } from '../simulator/scenarios.ts';
import { reportError } from './flags.ts';

export interface SimulateFlags {
  port: string;
  host?: string;
  scenario: string;
  scenarioFile?: string;
  phase?: string;
  seed: string;
  duration: string;
  rpm?: string;
  tpm?: string;
  quotaTokens?: string;
  fault: string[];
  countRejected: boolean;
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('Run an OpenAI-compatible chaos simulator on loopback until Ctrl-C')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '8787')
    .option('--host <host>', 'address to bind; loopback (127.0.0.1) unless given')
    .option('--scenario <name>', `one of: ${Object.keys(NAMED_SCENARIOS).join(', ')}`, 'mixed')
    .option('--scenario-file <path>', 'a YAML or JSON scenario file (instead of --scenario)')
    .option('--phase <name>', 'stay in this phase of the scenario instead of following its timeline')
    .option('--seed <n>', 'seed for fault decisions, 0 to 4294967295 (same seed, same faults)', '1')
    .option('--duration <seconds>', 'length of one pass through the phases: 60, 90s, 2m', '60')
    .option('--rpm <n>', 'requests per minute per API key')
    .option('--tpm <n>', 'tokens per minute per API key')
    .option('--quota-tokens <n>', 'tokens each API key may spend before insufficient_quota')
    .option(
      '--fault <spec>',
      'extra fault in every phase, repeatable: KIND:PROBABILITY or KIND:every=N, e.g. 503:0.2',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--no-count-rejected', 'rejected requests do not use up the RPM limit')
    .action(async (flags: SimulateFlags) => {
      try {
        const { simulate } = await import('./simulate-run.ts');
        process.exitCode = await simulate(flags);
      } catch (error) {
        process.exitCode = reportError(error);
      }
    });
}
