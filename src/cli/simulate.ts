/**
 * `retryscope simulate`: runs the chaos simulator until Ctrl-C, then prints
 * what it saw. Bad input gets one line on stderr and exit code 1, never a
 * stack trace: the person reading it is at a terminal, not in a debugger.
 */
import type { Command } from 'commander';
import { parseGoDuration } from '../simulator/go-duration.ts';
import {
  type FaultSpec,
  loadScenarioFile,
  NAMED_SCENARIOS,
  type ScenarioDefinition,
  type SimulatorOptions,
  type SimulatorStats,
  startSimulator,
} from '../simulator/index.ts';
import { validateFaults } from '../simulator/scenario-schema.ts';
import { isNamedScenario } from '../simulator/scenarios.ts';

interface SimulateFlags {
  port: string;
  host?: string;
  scenario: string;
  scenarioFile?: string;
  seed: string;
  duration: string;
  rpm?: string;
  tpm?: string;
  quotaTokens?: string;
  fault: string[];
  countRejected: boolean;
}

/** Thrown for input the user can fix; its message is the whole story. */
class UsageError extends Error {}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function integer(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = /^-?\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`${flag} must be an integer ${range} (got "${text}")`);
  }
  return value;
}

function positive(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${flag} must be a positive number (got "${text}")`);
  }
  return value;
}

/** Seconds as a bare number ("90"), or a Go duration ("90s", "1m30s"). */
function durationMs(text: string): number {
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text.trim())) ms = Number(text) * 1000;
  else {
    try {
      ms = parseGoDuration(text.trim());
    } catch {
      ms = Number.NaN;
    }
  }
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new UsageError(
      `--duration must be a positive number of seconds or a duration like 90s or 2m (got "${text}")`,
    );
  }
  return ms;
}

/** `500:0.2`, `reset:every=10`, `hang` (= every request). */
export function parseFaultFlag(text: string): FaultSpec {
  const [kind = '', how, ...rest] = text.split(':');
  if (rest.length > 0 || kind === '') {
    throw new UsageError(`--fault "${text}" must look like KIND:PROBABILITY or KIND:every=N (e.g. 503:0.2)`);
  }
  const fault: Record<string, unknown> = { kind };
  if (how === undefined) fault.every = 1;
  else if (how.startsWith('every=')) fault.every = Number(how.slice('every='.length));
  else fault.probability = how.trim() === '' ? Number.NaN : Number(how);
  try {
    return validateFaults([fault], `--fault ${text}`)[0]!;
  } catch (error) {
    throw new UsageError((error as Error).message.replace('[0].', ''));
  }
}

function scenarioFrom(flags: SimulateFlags): ScenarioDefinition {
  if (flags.scenarioFile !== undefined) {
    try {
      return loadScenarioFile(flags.scenarioFile);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  if (!isNamedScenario(flags.scenario)) {
    const known = Object.keys(NAMED_SCENARIOS).join(', ');
    throw new UsageError(
      `Unknown scenario "${flags.scenario}" (expected one of: ${known}, or use --scenario-file)`,
    );
  }
  return NAMED_SCENARIOS[flags.scenario];
}

export function optionsFromFlags(flags: SimulateFlags): SimulatorOptions {
  const options: SimulatorOptions = {
    port: integer('--port', flags.port, 0, 65_535),
    scenario: scenarioFrom(flags),
    seed: integer('--seed', flags.seed, Number.MIN_SAFE_INTEGER),
    durationMs: durationMs(flags.duration),
    countRejected: flags.countRejected,
    faults: flags.fault.map(parseFaultFlag),
  };
  if (flags.host !== undefined) {
    if (flags.host.trim() === '') throw new UsageError('--host must not be empty');
    options.host = flags.host;
  }
  const limits: SimulatorOptions['limits'] = {};
  if (flags.rpm !== undefined) limits.rpm = positive('--rpm', flags.rpm);
  if (flags.tpm !== undefined) limits.tpm = positive('--tpm', flags.tpm);
  options.limits = limits;
  if (flags.quotaTokens !== undefined) options.quotaTokens = integer('--quota-tokens', flags.quotaTokens, 0);
  return options;
}

function formatCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? '-' : entries.map(([name, count]) => `${name}: ${count}`).join(', ');
}

export function formatStats(stats: SimulatorStats, elapsedMs: number): string {
  return [
    `retryscope simulator stopped after ${(elapsedMs / 1000).toFixed(1)}s: ${stats.requests} requests`,
    `  by status: ${formatCounts(stats.byStatus)}`,
    `  by route:  ${formatCounts(stats.byRoute)}`,
    `  by key:    ${formatCounts(stats.byKey)}`,
    `  resets ${stats.resets}, hangs ${stats.hangs}, broken streams ${stats.streamErrors}`,
    '',
  ].join('\n');
}

function fail(message: string): void {
  process.stderr.write(`retryscope simulate: ${message}\n`);
  process.exitCode = 1;
}

async function run(flags: SimulateFlags): Promise<void> {
  let options: SimulatorOptions;
  try {
    options = optionsFromFlags(flags);
  } catch (error) {
    fail((error as Error).message);
    return;
  }

  let sim: Awaited<ReturnType<typeof startSimulator>>;
  try {
    sim = await startSimulator(options);
  } catch (error) {
    fail((error as Error).message);
    return;
  }
  const startedAt = Date.now();
  if (!LOOPBACK.has(sim.host)) {
    process.stderr.write(
      `retryscope simulate: warning: listening on ${sim.host}, reachable from other machines\n`,
    );
  }
  const phases = sim.scenario.phases.map((phase) => phase.name).join(' → ');
  process.stdout.write(
    `retryscope simulator: scenario ${sim.scenario.name} (${phases}), seed ${sim.seed}, on ${sim.url} — ` +
      `point the SDK at it: OPENAI_BASE_URL=${sim.url} OPENAI_API_KEY=sk-sim\n`,
  );

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  const stats = sim.stats();
  await sim.close();
  process.stdout.write(formatStats(stats, Date.now() - startedAt));
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('Run an OpenAI-compatible chaos simulator on loopback until Ctrl-C')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '8787')
    .option('--host <host>', 'address to bind; loopback (127.0.0.1) unless given')
    .option('--scenario <name>', `one of: ${Object.keys(NAMED_SCENARIOS).join(', ')}`, 'mixed')
    .option('--scenario-file <path>', 'a YAML or JSON scenario file (instead of --scenario)')
    .option('--seed <n>', 'seed for fault decisions (same seed, same faults)', '1')
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
    // One line for a typo, not the whole help text.
    .showHelpAfterError(false)
    .action(async (flags: SimulateFlags) => {
      try {
        await run(flags);
      } catch (error) {
        fail((error as Error).message);
      }
    });
}
