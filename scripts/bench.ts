/**
 * `npm run bench`: the plain openai SDK against retryscope on the built-in
 * simulator over loopback, plus retryscope's CPU overhead per call. Prints
 * the table and writes BENCHMARKS.md and docs/bench-storm-3x.svg; the raw
 * numbers go to .cache/bench/last-run.json, from which `--render` writes
 * the report again without re-running.
 *
 *   npm run bench                      # the full run (~12 minutes on 2 cores)
 *   npm run bench -- --quick           # under 2 minutes; prints only, unless --out/--svg are given
 *   npm run bench -- --rounds 3 --out BENCHMARKS.md --svg docs/bench-storm-3x.svg
 *   npm run bench -- --render .cache/bench/last-run.json
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { rows } from './bench/aggregate.ts';
import { ARM_IDS, arms } from './bench/arms.ts';
import { type BenchConfig, DEFAULT_CONFIG, QUICK_CONFIG } from './bench/config.ts';
import { type ArmRun, type BenchResult, runBench } from './bench/harness.ts';
import { measureOverhead, type OverheadResult } from './bench/overhead.ts';
import { goals, type Machine, renderOverhead, renderReport, renderTable } from './bench/report.ts';
import { SCENARIO_IDS, scenarios } from './bench/scenarios.ts';
import { SUITE_IDS, suites as selectSuites } from './bench/suites.ts';
import { renderChart, successSeries } from './bench/svg.ts';

const USAGE =
  'usage: npm run bench -- [--quick] [--rounds N] [--window-ms MS] [--out FILE] [--svg FILE] [--save FILE] [--render FILE] [--scenarios a,b] [--arms a,b] [--suites a,b|none] [--no-overhead]';
const DEFAULT_SAVE = '.cache/bench/last-run.json';

/** What `--save` writes and `--render` reads: everything the report needs, nothing it can rebuild. */
interface Saved {
  config: BenchConfig;
  runs: ArmRun[];
  tokensPerCall: number;
  startedAt: string;
  finishedAt: string;
  overhead?: OverheadResult;
  /** Pacing suites' results, by suite id. */
  suites?: Record<string, unknown>;
  machine: Machine;
  command: string;
  quick: boolean;
}

function die(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(1);
}

function parse() {
  return parseArgs({
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      'window-ms': { type: 'string' },
      out: { type: 'string' },
      svg: { type: 'string' },
      save: { type: 'string' },
      render: { type: 'string' },
      scenarios: { type: 'string' },
      arms: { type: 'string' },
      suites: { type: 'string' },
      'no-overhead': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
let values: ReturnType<typeof parse>['values'];
try {
  values = parse().values;
} catch (error) {
  die(`${(error as Error).message.split('\n')[0]} (${USAGE})`);
}
if (values.help) {
  console.log(USAGE);
  console.log(
    `scenarios: ${SCENARIO_IDS.join(', ')}\narms: ${ARM_IDS.join(', ')}\nsuites: ${SUITE_IDS.join(', ')} (or none)`,
  );
  console.log(
    `--quick writes no report unless --out / --svg are given; the default run writes both. Raw results always go to --save (default ${DEFAULT_SAVE}).`,
  );
  process.exit(0);
}

function positiveInt(name: string, raw: string | undefined, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max)
    die(`--${name} must be an integer from 1 to ${max} (got "${raw}")`);
  return n;
}

function list(name: string, raw: string | undefined, known: readonly string[]): string[] | undefined {
  if (raw === undefined) return undefined;
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = items.filter((s) => !known.includes(s));
  if (items.length === 0 || unknown.length > 0)
    die(`--${name} takes a comma-separated list of ${known.join(', ')} (got "${raw}")`);
  return items;
}

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function openaiVersion(): string {
  try {
    const url = new URL('../node_modules/openai/package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function write(path: string, text: string): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeFileSync(path, text);
}

const log = (line: string) => console.error(line);

async function run(): Promise<Saved> {
  const base = values.quick ? QUICK_CONFIG : DEFAULT_CONFIG;
  const config: BenchConfig = {
    ...base,
    rounds: positiveInt('rounds', values.rounds, 20) ?? base.rounds,
    windowMs: positiveInt('window-ms', values['window-ms'], 120_000) ?? base.windowMs,
    skipOverhead: values['no-overhead'],
    ...(values.scenarios ? { scenarios: list('scenarios', values.scenarios, SCENARIO_IDS) } : {}),
    ...(values.arms ? { arms: list('arms', values.arms, ARM_IDS) } : {}),
  };
  const loadAtStart = os.loadavg();
  log(
    `bench: ${config.rounds} round(s), ${config.windowMs / 1000} s windows, limit ${config.limitRpm} RPM in ${config.burstMs} ms buckets, retryscope deadline ${config.deadlineMs} ms`,
  );
  const result = await runBench(config, (run, done, total) => {
    const errors = run.calls - run.successes;
    log(
      `[${done}/${total}] round ${run.round} ${run.scenario.padEnd(11)} ${run.arm.padEnd(12)} calls ${String(run.calls).padStart(4)}  ok ${String(run.successes).padStart(4)} (${run.successesInWindow} in window)  errors ${String(errors).padStart(4)}  requests ${String(run.server.requests).padStart(5)}  429s ${String(run.server.byStatus['429'] ?? 0).padStart(5)}  ${(run.wallMs / 1000).toFixed(1)} s`,
    );
  });
  const overhead = config.skipOverhead
    ? undefined
    : await measureOverhead({
        calls: config.overheadCalls,
        rounds: config.overheadRounds,
        warmup: config.overheadWarmup,
        log,
      });
  const suiteIds = values.suites === 'none' ? [] : list('suites', values.suites, SUITE_IDS);
  const suiteResults: Record<string, unknown> = {};
  for (const suite of selectSuites(suiteIds)) {
    log(`bench: suite ${suite.id}: ${suite.title}`);
    suiteResults[suite.id] = await suite.run({ quick: values.quick ?? false, log });
  }
  const dirty = git('status', '--porcelain', '--', 'src', 'scripts/bench', 'scripts/bench.ts');
  return {
    config: result.config,
    runs: result.runs,
    tokensPerCall: result.tokensPerCall,
    startedAt: result.startedAt.toISOString(),
    finishedAt: result.finishedAt.toISOString(),
    ...(overhead ? { overhead } : {}),
    suites: suiteResults,
    machine: {
      cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
      cores: os.availableParallelism(),
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.versions.node,
      openai: openaiVersion(),
      commit: `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' (with uncommitted changes in src/ or the benchmark)' : ''}`,
      loadAtStart,
      loadAtEnd: os.loadavg(),
    },
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    quick: values.quick ?? false,
  };
}

let saved: Saved;
if (values.render) {
  try {
    saved = JSON.parse(readFileSync(values.render, 'utf8')) as Saved;
  } catch (error) {
    die(`cannot read --render ${values.render}: ${(error as Error).message.split('\n')[0]}`);
  }
} else {
  saved = await run();
  const savePath = values.save ?? DEFAULT_SAVE;
  write(savePath, `${JSON.stringify(saved)}\n`);
  log(`bench: saved the raw results to ${savePath}`);
}

const result: BenchResult = {
  config: saved.config,
  scenarios: scenarios(saved.config),
  arms: arms(saved.config),
  runs: saved.runs,
  tokensPerCall: saved.tokensPerCall,
  startedAt: new Date(saved.startedAt),
  finishedAt: new Date(saved.finishedAt),
};
const outPath = values.out ?? (saved.quick ? undefined : 'BENCHMARKS.md');
const svgPath = values.svg ?? (saved.quick ? undefined : 'docs/bench-storm-3x.svg');

let chartRef: string | undefined;
if (svgPath && result.scenarios.some((s) => s.id === 'storm-3x')) {
  const c = result.config;
  const svg = renderChart(
    successSeries(result, 'storm-3x'),
    `${c.limitRpm} RPM in ${c.burstMs} ms buckets, open loop at 3× for ${c.windowMs / 1000} s, ${c.rounds} round(s) averaged`,
  );
  write(svgPath, svg);
  chartRef = relative(dirname(resolve(outPath ?? 'BENCHMARKS.md')), resolve(svgPath));
  log(`bench: wrote ${svgPath}`);
}
const suiteSections = Object.entries(saved.suites ?? {}).flatMap(([id, data]) => {
  const suite = selectSuites([id])[0];
  return suite ? [{ markdown: suite.render(data), goals: suite.goals(data) }] : [];
});
if (outPath) {
  const report = renderReport({
    suites: suiteSections,
    result,
    ...(saved.overhead ? { overhead: saved.overhead } : {}),
    machine: saved.machine,
    command: saved.command,
    quick: saved.quick,
    ...(chartRef ? { chartPath: chartRef } : {}),
    ...(values.render
      ? { rendered: `the report code at commit ${git('rev-parse', '--short', 'HEAD')}` }
      : {}),
  });
  write(outPath, report);
  log(`bench: wrote ${outPath}`);
}

const table = rows(result);
console.log(renderTable(result, table));
if (saved.overhead) console.log(`\n${renderOverhead(saved.overhead)}`);
console.log('');
for (const g of [...goals(result, table, saved.overhead), ...suiteSections.flatMap((s) => s.goals)])
  console.log(`${g.met ? 'MET    ' : 'NOT MET'} ${g.name}: ${g.detail}`);
