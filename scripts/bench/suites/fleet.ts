/**
 * "4 and 8 processes on one key": one simulator key, N real OS processes
 * (fleet-worker.ts), each with its own client and its own instrument(),
 * each with a crowd of closed-loop callers, for one load window. Arms: the
 * plain SDK, retryscope's local limiter, retryscope on Redis. Every arm-run
 * gets a fresh simulator and an emptied Redis; arms are interleaved and
 * their order rotated per fleet size and round.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RespConnection } from '../../../src/openai/redis-store.ts';
import { type SimulatorStats, startSimulator } from '../../../src/simulator/index.ts';
import { admissible } from '../aggregate.ts';
import { type BenchConfig, DEFAULT_CONFIG, initialBucket, limitPerSec } from '../config.ts';
import { rotate } from '../harness.ts';
import type { Goal } from '../report.ts';
import { addCounts, percentile, sum } from '../stats.ts';
import type { Suite, SuiteContext } from '../suites.ts';
import type { FleetArmId, WorkerResult, WorkerSpec } from './fleet-worker.ts';
import { commandCalls, infoField as info, startRedis } from './redis.ts';

export interface FleetConfig {
  rounds: number;
  windowMs: number;
  /** Fleet sizes, in processes. */
  sizes: number[];
  /** Closed-loop callers in each process. */
  callersPerProcess: number;
  /** retryscope arms: the per-call deadline, ms. */
  deadlineMs: number;
  /** The simulator's limit, as in the main table. */
  limitRpm: number;
  burstMs: number;
  limitTpm: number;
  seed: number;
}

export const FLEET_CONFIG: FleetConfig = {
  rounds: 2,
  windowMs: 8000,
  sizes: [4, 8],
  callersPerProcess: 10,
  deadlineMs: DEFAULT_CONFIG.deadlineMs,
  limitRpm: DEFAULT_CONFIG.limitRpm,
  burstMs: DEFAULT_CONFIG.burstMs,
  limitTpm: DEFAULT_CONFIG.limitTpm,
  seed: DEFAULT_CONFIG.seed,
};

export const FLEET_QUICK: FleetConfig = { ...FLEET_CONFIG, rounds: 1, windowMs: 3000 };

export const FLEET_ARMS: readonly { id: FleetArmId; label: string; settings: string }[] = [
  { id: 'plain', label: 'openai, maxRetries 2 (default)', settings: '`new OpenAI({ maxRetries: 2 })`' },
  {
    id: 'local',
    label: 'retryscope, local limiter (default)',
    settings: '`instrument(new OpenAI(), { deadlineMs, maxAttempts: 1000 })`: each process paces alone',
  },
  {
    id: 'redis',
    label: 'retryscope, Redis limiter',
    settings:
      "the same with `limiter: { redis: 'redis://127.0.0.1:<port>' }`: one redis-server for the fleet",
  },
];

/** What Redis held and did during a Redis arm-run, read right after its load settled. */
export interface RedisSample {
  /** EVALSHA + EVAL calls (the limiter script) during the run. */
  scriptCalls: number;
  /** Every command Redis served during the run, the sampling's own excluded. */
  commands: number;
  keys: number;
  /** MEMORY USAGE of each key, bytes. */
  keyBytes: number[];
  /** The cached script and Redis's Lua VM (used_memory_scripts_eval, used_memory_vm_eval), bytes. */
  scriptBytes: number;
  luaVmBytes: number;
}

export interface FleetRun {
  processes: number;
  arm: FleetArmId;
  round: number;
  position: number;
  windowMs: number;
  calls: number;
  successes: number;
  successesInWindow: number;
  errors: Record<string, number>;
  latenciesMs: number[];
  server: SimulatorStats;
  warnings: string[];
  /** Processes that saw the Redis store not answer in time at least once (and paced alone meanwhile). */
  storeDown: number;
  redis?: RedisSample;
  /** The simulator's cumulative counts every 500 ms from GO: where in the window the 429s fell. */
  timeline: { atMs: number; requests: number; rejected: number }[];
  /** Children that did not report (crashed or timed out); their calls are missing from the counts. */
  lost: number;
}

export interface FleetResult {
  config: FleetConfig;
  runs: FleetRun[];
  /** os.loadavg() (1, 5, 15 min) when the suite started and ended: 8 processes on a shared host feel it. */
  load?: { start: number[]; end: number[] };
}

const WORKER = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));
const READY_TIMEOUT_MS = 60_000;
const SAFETY_MARGIN_MS = 30_000;
const TICK_MS = 500;
/** The start of a window, for the notes: the cold start and its first correction. */
const START_MS = 2000;

/** The simulator's view of the config, for the helpers the main table uses. */
function benchConfig(c: FleetConfig): BenchConfig {
  return { ...DEFAULT_CONFIG, limitRpm: c.limitRpm, burstMs: c.burstMs, limitTpm: c.limitTpm };
}

interface Child {
  ready: Promise<void>;
  result: Promise<WorkerResult | undefined>;
  go(): void;
  kill(): void;
}

function startWorker(spec: WorkerSpec, log: (line: string) => void): Child {
  const child = spawn(process.execPath, [WORKER, JSON.stringify(spec)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const lines = createInterface({ input: child.stdout! });
  let onReady!: () => void;
  let onResult!: (r: WorkerResult | undefined) => void;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const result = new Promise<WorkerResult | undefined>((resolve) => {
    onResult = resolve;
  });
  lines.on('line', (line) => {
    if (line === 'READY') onReady();
    else if (line.startsWith('RESULT ')) onResult(JSON.parse(line.slice(7)) as WorkerResult);
  });
  let reported = false;
  lines.on('line', (line) => {
    if (line.startsWith('RESULT ')) reported = true;
  });
  child.once('exit', (code) => {
    if (!reported) log(`fleet: a worker exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    onReady();
    onResult(undefined);
  });
  return {
    ready,
    result,
    go: () => child.stdin!.end('GO\n'),
    kill: () => child.kill('SIGKILL'),
  };
}

async function sampleRedis(conn: RespConnection): Promise<RedisSample> {
  const stats = String(await conn.command(['INFO', 'commandstats']));
  const all = [...stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)];
  const keys = (await conn.command(['KEYS', '*'])) as string[];
  const keyBytes: number[] = [];
  for (const key of keys) keyBytes.push(Number(await conn.command(['MEMORY', 'USAGE', key, 'SAMPLES', '0'])));
  const memory = String(await conn.command(['INFO', 'memory']));
  return {
    scriptCalls: commandCalls(stats, 'evalsha') + commandCalls(stats, 'eval'),
    // What this sampling itself sent before INFO commandstats read the counters: nothing but that INFO.
    commands: sum(all.filter(([, name]) => name !== 'info').map(([, , n]) => Number(n))),
    keys: keys.length,
    keyBytes,
    scriptBytes: info(memory, 'used_memory_scripts_eval'),
    luaVmBytes: info(memory, 'used_memory_vm_eval'),
  };
}

export interface FleetArmOptions {
  processes: number;
  arm: FleetArmId;
  config: FleetConfig;
  round: number;
  position: number;
  /** Needed by the arm `redis`: emptied (FLUSHALL, stats reset) before the run. */
  redisUrl?: string;
  maxCallsPerCaller?: number;
  /** The Redis arm's store timeout (tests set a long one: a loaded machine must not turn them into fallback runs). */
  redisTimeoutMs?: number;
  log?: (line: string) => void;
}

/** One arm with one fleet size, on a fresh simulator (and an emptied Redis). */
export async function runFleetArm(o: FleetArmOptions): Promise<FleetRun> {
  const log = o.log ?? (() => {});
  const c = o.config;
  const sim = await startSimulator({
    scenario: {
      name: 'fleet',
      limits: { rpm: c.limitRpm, tpm: c.limitTpm },
      burstMs: c.burstMs,
      loop: false,
      phases: [{ name: 'healthy', latencyMs: { min: 20, max: 60 } }],
    },
    seed: c.seed + o.round - 1,
    durationMs: c.windowMs,
    countRejected: true,
  });
  const conn = o.arm === 'redis' && o.redisUrl ? new RespConnection(o.redisUrl) : undefined;
  const children: Child[] = [];
  try {
    if (conn) {
      await conn.command(['FLUSHALL']);
      await conn.command(['SCRIPT', 'FLUSH']);
      await conn.command(['CONFIG', 'RESETSTAT']);
    }
    const spec: WorkerSpec = {
      simUrl: sim.url,
      arm: o.arm,
      ...(o.redisUrl ? { redisUrl: o.redisUrl } : {}),
      callers: c.callersPerProcess,
      windowMs: c.windowMs,
      deadlineMs: c.deadlineMs,
      ...(o.maxCallsPerCaller ? { maxCallsPerCaller: o.maxCallsPerCaller } : {}),
      ...(o.redisTimeoutMs ? { redisTimeoutMs: o.redisTimeoutMs } : {}),
    };
    for (let i = 0; i < o.processes; i++) children.push(startWorker(spec, log));
    const readyCap = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), READY_TIMEOUT_MS).unref());
    if ((await Promise.race([Promise.all(children.map((ch) => ch.ready)), readyCap])) === 'timeout')
      throw new Error(`fleet: the workers were not ready within ${READY_TIMEOUT_MS / 1000} s`);
    const t0 = Date.now();
    const timeline: FleetRun['timeline'] = [];
    const tick = () => {
      const st = sim.stats();
      timeline.push({ atMs: Date.now() - t0, requests: st.requests, rejected: st.byStatus['429'] ?? 0 });
    };
    const ticker = setInterval(tick, TICK_MS);
    for (const child of children) child.go();
    const cap = setTimeout(
      () => {
        for (const child of children) child.kill();
      },
      c.windowMs + c.deadlineMs + SAFETY_MARGIN_MS,
    );
    const results = await Promise.all(children.map((ch) => ch.result));
    clearTimeout(cap);
    clearInterval(ticker);
    tick();
    const reported = results.filter((r): r is WorkerResult => r !== undefined);
    const errors: Record<string, number> = {};
    for (const r of reported) addCounts(errors, r.errors);
    return {
      processes: o.processes,
      arm: o.arm,
      round: o.round,
      position: o.position,
      windowMs: c.windowMs,
      calls: sum(reported.map((r) => r.calls)),
      successes: sum(reported.map((r) => r.successes)),
      successesInWindow: sum(reported.map((r) => r.successesInWindow)),
      errors,
      latenciesMs: reported.flatMap((r) => r.latenciesMs),
      server: sim.stats(),
      warnings: [...new Set(reported.flatMap((r) => r.warnings))],
      storeDown: reported.filter((r) => r.warnings.some((w) => /did not answer/.test(w))).length,
      ...(conn ? { redis: await sampleRedis(conn) } : {}),
      timeline,
      lost: results.length - reported.length,
    };
  } finally {
    for (const child of children) child.kill();
    await conn?.close();
    await sim.close();
  }
}

export async function runFleet(
  config: FleetConfig,
  context: Pick<SuiteContext, 'log'>,
): Promise<FleetResult> {
  const redis = await startRedis('fleet');
  const runs: FleetRun[] = [];
  const start = os.loadavg();
  try {
    for (let round = 1; round <= config.rounds; round++) {
      for (const [s, processes] of config.sizes.entries()) {
        for (const [position, arm] of rotate(FLEET_ARMS, round - 1 + s).entries()) {
          const run = await runFleetArm({
            processes,
            arm: arm.id,
            config,
            round,
            position,
            redisUrl: redis.url,
            log: context.log,
          });
          runs.push(run);
          const f = figures(config, [run]);
          context.log(
            `fleet round ${round} ${processes} processes ${arm.id.padEnd(5)} calls ${run.calls} ok ${run.successes} (${run.successesInWindow} in window) goodput ${f.goodput.toFixed(3)} 429s ${f.server429} errors ${f.errorCount}${run.redis ? ` redis scripts/success ${(run.redis.scriptCalls / Math.max(1, run.successes)).toFixed(2)} keys ${run.redis.keys}` : ''}`,
          );
        }
      }
    }
  } finally {
    await redis.kill();
  }
  return { config, runs, load: { start, end: os.loadavg() } };
}

export interface FleetFigures {
  runs: number;
  calls: number;
  successes: number;
  goodput: number;
  goodputByRound: number[];
  server429: number;
  per429Success: number;
  errors: Record<string, number>;
  errorCount: number;
  p50: number;
  p99: number;
  lost: number;
}

/** Pooled over rounds, as the main table pools: totals over totals. */
export function figures(config: FleetConfig, runs: readonly FleetRun[]): FleetFigures {
  const bench = benchConfig(config);
  const errors: Record<string, number> = {};
  for (const r of runs) addCounts(errors, r.errors);
  const successes = sum(runs.map((r) => r.successes));
  const server429 = sum(runs.map((r) => r.server.byStatus['429'] ?? 0));
  const latencies = runs.flatMap((r) => r.latenciesMs);
  return {
    runs: runs.length,
    calls: sum(runs.map((r) => r.calls)),
    successes,
    goodput: sum(runs.map((r) => r.successesInWindow)) / sum(runs.map((r) => admissible(bench, r.windowMs))),
    goodputByRound: runs.map((r) => r.successesInWindow / admissible(bench, r.windowMs)),
    server429,
    per429Success: successes > 0 ? server429 / successes : Number.POSITIVE_INFINITY,
    errors,
    errorCount: sum(Object.values(errors)),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    lost: sum(runs.map((r) => r.lost)),
  };
}

const GOAL = { processes: 8, arm: 'redis' as const, goodput: 0.95, per429: 0.05 };

const fixed = (n: number, digits = 2) =>
  Number.isFinite(n) ? n.toFixed(digits) : Number.isNaN(n) ? '—' : '∞';

function runsOf(result: FleetResult, processes: number, arm: FleetArmId): FleetRun[] {
  return result.runs.filter((r) => r.processes === processes && r.arm === arm);
}

export function fleetGoals(result: FleetResult): Goal[] {
  const runs = runsOf(result, GOAL.processes, GOAL.arm);
  if (runs.length === 0) return [];
  const f = figures(result.config, runs);
  const rounds =
    f.goodputByRound.length > 1 ? ` (rounds: ${f.goodputByRound.map((g) => fixed(g, 3)).join(', ')})` : '';
  return [
    {
      name: `${GOAL.processes} processes on one key, retryscope with Redis: goodput ≥ ${GOAL.goodput} × limit`,
      met: f.goodput >= GOAL.goodput,
      detail: `measured ${fixed(f.goodput, 3)}${rounds}`,
    },
    {
      name: `${GOAL.processes} processes on one key, retryscope with Redis: ≤ ${GOAL.per429} 429s per success`,
      met: f.per429Success <= GOAL.per429,
      detail: `measured ${fixed(f.per429Success, 3)} (${f.server429} 429s, ${f.successes} successes)`,
    },
    {
      name: `${GOAL.processes} processes on one key, retryscope with Redis: 0 errors to callers`,
      met: f.errorCount === 0 && f.lost === 0,
      detail: `measured ${f.errorCount}${f.errorCount ? ` (${errorList(f.errors)})` : ''} in ${f.calls} calls${f.lost ? `; ${f.lost} worker(s) did not report` : ''}`,
    },
  ];
}

function errorList(errors: Record<string, number>): string {
  return Object.entries(errors)
    .sort((a, b) => b[1] - a[1])
    .map(([label, n]) => `${label} ${n}`)
    .join(', ');
}

export function renderFleet(result: FleetResult): string {
  const c = result.config;
  const bench = benchConfig(c);
  const lines = [
    '## Processes on one key',
    '',
    `One simulator key (${c.limitRpm} RPM in ${c.burstMs} ms buckets, ${initialBucket(bench)} requests, \`countRejected: true\`, 20–60 ms answers; fresh for every arm-run) and N real OS processes (\`scripts/bench/suites/fleet-worker.ts\`, spawned with \`child_process\`), each with its own \`OpenAI\` client and its own \`instrument()\`, each running ${c.callersPerProcess} closed-loop callers for a ${c.windowMs / 1000} s window. The processes start, build their clients, and begin their window together when the benchmark writes \`GO\` to each (process start-up is outside the window); each reports its counts as JSON on stdout. The Redis arm's processes share one redis-server on loopback, emptied (\`FLUSHALL\`, \`SCRIPT FLUSH\`, \`CONFIG RESETSTAT\`) before each arm-run. ${c.rounds} round${c.rounds === 1 ? '' : 's'}; within a round the arms run one at a time, their order rotated by one per fleet size and round. retryscope arms: deadline ${c.deadlineMs / 1000} s, 1000 attempts. Goodput × limit has the main table's denominator (${limitPerSec(bench)} req/s × ${c.windowMs / 1000} s + ${initialBucket(bench)}); 429s and requests are the simulator's counts.`,
    '',
    'Clients:',
    '',
    ...FLEET_ARMS.map((a) => `- **${a.label}** (\`${a.id}\`): ${a.settings}.`),
    '',
    '| Processes | Callers | Client | Calls | Goodput × limit | Requests / success | 429s | 429s / success | Errors surfaced to callers | p50 ms | p99 ms | Processes that paced alone (Redis too slow) |',
    '| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |',
  ];
  for (const processes of c.sizes) {
    for (const arm of FLEET_ARMS) {
      const runs = runsOf(result, processes, arm.id);
      if (runs.length === 0) continue;
      const f = figures(c, runs);
      const requests = sum(runs.map((r) => r.server.requests));
      const rounds =
        f.goodputByRound.length > 1 ? ` (${f.goodputByRound.map((g) => fixed(g)).join(', ')})` : '';
      lines.push(
        `| ${processes} | ${processes * c.callersPerProcess} | ${arm.label} | ${f.calls} | ${fixed(f.goodput)}${rounds} | ${fixed(f.successes > 0 ? requests / f.successes : Number.POSITIVE_INFINITY)} | ${f.server429} | ${fixed(f.per429Success)} | ${f.errorCount === 0 ? '0' : `**${f.errorCount}**: ${errorList(f.errors)}`}${f.lost ? ` (${f.lost} worker(s) did not report)` : ''} | ${fixed(f.p50, 0)} | ${fixed(f.p99, 0)} | ${arm.id === 'redis' ? runs.map((r) => `${r.storeDown}/${r.processes}`).join(', ') : ''} |`,
      );
    }
  }
  lines.push('', ...startNotes(result), ...redisNotes(result));
  if (result.load)
    lines.push(
      '',
      `Load average (1/5/15 min) at the suite's start ${result.load.start.map((l) => l.toFixed(2)).join(' / ')}, at its end ${result.load.end.map((l) => l.toFixed(2)).join(' / ')}, on ${os.availableParallelism()} cores: every process of the fleet, the simulator and redis-server share them.`,
    );
  return lines.join('\n');
}

/** The simulator's 429 count by `ms` into the window, from the run's timeline. */
function rejectedBy(run: FleetRun, ms: number): number {
  let n = 0;
  for (const t of run.timeline) if (t.atMs <= ms) n = t.rejected;
  return n;
}

/** Where in the window the retryscope arms' 429s fell: the start (before and just after the first headers) or later. */
function startNotes(result: FleetResult): string[] {
  const out: string[] = [];
  for (const arm of FLEET_ARMS.filter((a) => a.id !== 'plain')) {
    const parts = result.config.sizes.flatMap((processes) => {
      const runs = runsOf(result, processes, arm.id);
      const total = sum(runs.map((r) => r.server.byStatus['429'] ?? 0));
      if (runs.length === 0 || total === 0) return [];
      const early = sum(runs.map((r) => rejectedBy(r, START_MS)));
      return [`${processes} processes ${early} of ${total}`];
    });
    if (parts.length > 0)
      out.push(
        `${arm.label}: 429s in the first ${START_MS / 1000} s of the window (sampled every ${TICK_MS} ms): ${parts.join('; ')}.`,
      );
  }
  return out;
}

/** What the Redis arm cost Redis: operations per call, keys, memory. */
function redisNotes(result: FleetResult): string[] {
  const samples = result.runs.filter((r) => r.redis);
  if (samples.length === 0) return [];
  const scripts = sum(samples.map((r) => r.redis!.scriptCalls));
  const commands = sum(samples.map((r) => r.redis!.commands));
  const calls = sum(samples.map((r) => r.calls));
  const requests = sum(samples.map((r) => r.server.requests));
  const keyBytes = samples.flatMap((r) => r.redis!.keyBytes);
  const keys = [...new Set(samples.map((r) => r.redis!.keys))];
  const warned = samples.filter((r) => r.warnings.length > 0);
  return [
    `Redis, over the ${samples.length} Redis arm-run${samples.length === 1 ? '' : 's'}: ${scripts} limiter-script calls (\`EVALSHA\`/\`EVAL\`) for ${calls} calls and ${requests} requests sent, ${fixed(scripts / Math.max(1, requests))} per request sent (${commands} commands in all, from \`INFO commandstats\`). Keys after each run: ${keys.join(' or ')} (\`DBSIZE\` of a Redis used by nothing else), ${keyBytes.length ? `${Math.min(...keyBytes)}–${Math.max(...keyBytes)} bytes each by \`MEMORY USAGE\`` : 'none'}; besides, Redis held the cached script (${Math.max(...samples.map((r) => r.redis!.scriptBytes))} bytes, \`used_memory_scripts_eval\`) and its Lua VM (${Math.max(...samples.map((r) => r.redis!.luaVmBytes))} bytes, \`used_memory_vm_eval\`), once for the whole fleet.${warned.length ? ` **The store did not always answer:** ${warned.length} run(s) logged a fallback warning (${warned[0]!.warnings[0]}).` : ' No process logged a store fallback.'}`,
  ];
}

export const fleetSuite: Suite<FleetResult> = {
  id: 'fleet',
  title: '4 and 8 processes on one key',
  run: (context) => runFleet(context.quick ? FLEET_QUICK : FLEET_CONFIG, context),
  render: renderFleet,
  goals: fleetGoals,
};
