/** What `retryscope simulate` does once its flags are parsed. */
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
import * as parse from './flags.ts';
import { EXIT_FAILURE, errorLine, UsageError, warningLine } from './flags.ts';
import type { SimulateFlags } from './simulate.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const FAULT_SHAPE = 'write KIND:PROBABILITY or KIND:every=N, e.g. --fault 503:0.2';

/** `500:0.2`, `reset:every=10`, `hang` (= every request). */
export function parseFaultFlag(text: string): FaultSpec {
  const [kind = '', how, ...rest] = text.split(':');
  if (rest.length > 0 || kind === '') {
    throw new UsageError(`--fault ${JSON.stringify(text)} is not a fault`, FAULT_SHAPE);
  }
  const fault: Record<string, unknown> = { kind };
  if (how === undefined) fault.every = 1;
  else if (how.startsWith('every=')) fault.every = Number(how.slice('every='.length));
  else fault.probability = how.trim() === '' ? Number.NaN : Number(how);
  try {
    return validateFaults([fault], `--fault ${text}`)[0]!;
  } catch (error) {
    throw new UsageError((error as Error).message.replace('[0].', ''), FAULT_SHAPE);
  }
}

function scenarioFrom(flags: SimulateFlags): ScenarioDefinition {
  if (flags.scenarioFile !== undefined) {
    try {
      return loadScenarioFile(flags.scenarioFile);
    } catch (error) {
      throw new UsageError((error as Error).message, 'see scenarios/scenario.schema.json for the format');
    }
  }
  return NAMED_SCENARIOS[parse.scenario(flags.scenario)];
}

export function optionsFromFlags(flags: SimulateFlags): SimulatorOptions {
  const options: SimulatorOptions = {
    port: parse.port(flags.port),
    scenario: scenarioFrom(flags),
    seed: parse.seed(flags.seed),
    durationMs: parse.durationMs(flags.duration),
    countRejected: flags.countRejected,
    faults: flags.fault.map(parseFaultFlag),
  };
  if (flags.host !== undefined) {
    if (flags.host.trim() === '') throw new UsageError('--host must not be empty', 'e.g. --host 127.0.0.1');
    options.host = flags.host;
  }
  const limits: SimulatorOptions['limits'] = {};
  if (flags.rpm !== undefined) limits.rpm = parse.positiveNumber('--rpm', flags.rpm, 600);
  if (flags.tpm !== undefined) limits.tpm = parse.positiveNumber('--tpm', flags.tpm, 200_000);
  options.limits = limits;
  if (flags.quotaTokens !== undefined) {
    options.quotaTokens = parse.integer(
      '--quota-tokens',
      flags.quotaTokens,
      0,
      Number.MAX_SAFE_INTEGER,
      1000,
    );
  }
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

/** Runs until SIGINT/SIGTERM; returns the exit code. Usage errors throw `UsageError`. */
export async function simulate(flags: SimulateFlags): Promise<number> {
  const options = optionsFromFlags(flags);
  const phases = (options.scenario as ScenarioDefinition).phases.map((phase) => phase.name);
  if (flags.phase !== undefined && !phases.includes(flags.phase)) {
    throw new UsageError(
      `unknown phase ${JSON.stringify(flags.phase)}`,
      `this scenario has ${phases.join(', ')}`,
    );
  }
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  try {
    sim = await startSimulator(options);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const fix =
      code === 'EADDRINUSE' ? 'choose another --port, or --port 0 for a free one' : 'check --host and --port';
    process.stderr.write(errorLine((error as Error).message, fix));
    return EXIT_FAILURE;
  }
  // Pinned: a test or a demo that needs the storm gets it now, not when the timeline reaches it.
  if (flags.phase !== undefined) sim.setPhase(flags.phase);
  const startedAt = Date.now();
  if (!LOOPBACK.has(sim.host)) {
    process.stderr.write(warningLine(`listening on ${sim.host}, reachable from other machines`));
  }
  const timeline = flags.phase === undefined ? phases.join(' → ') : `pinned to ${flags.phase}`;
  process.stdout.write(
    `retryscope simulator: scenario ${sim.scenario.name} (${timeline}), seed ${sim.seed}, on ${sim.url} — ` +
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
  return 0;
}
