/**
 * What the Redis limiter costs a call: one process making sequential calls
 * to a loopback server whose limits never bind, paced by its local limiter
 * or by Redis, in alternating blocks over several rounds (order rotated),
 * in one run. The server runs in a child process (as in the CPU-overhead
 * measurement), so `process.cpuUsage()` here is the client's; redis-server's
 * own CPU is read from its `INFO cpu` around each block.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import OpenAI from 'openai';
import { instrument } from '../../../src/index.ts';
import { RespConnection } from '../../../src/openai/redis-store.ts';
import { API_KEY } from '../arms.ts';
import { REQUEST, rotate } from '../harness.ts';
import { startServer, stopServer } from '../overhead.ts';
import type { Goal } from '../report.ts';
import { median, percentile, sum } from '../stats.ts';
import type { Suite, SuiteContext } from '../suites.ts';
import { infoField, scriptCalls, startRedis } from './redis.ts';

export interface RedisCostConfig {
  rounds: number;
  /** Sequential calls per arm per round. */
  callsPerBlock: number;
  /** Calls per arm before the first round (connections, JIT, the script loaded). */
  warmup: number;
}

export const REDIS_COST_CONFIG: RedisCostConfig = { rounds: 8, callsPerBlock: 1000, warmup: 300 };
export const REDIS_COST_QUICK: RedisCostConfig = { rounds: 4, callsPerBlock: 300, warmup: 100 };

export type CostArmId = 'local' | 'redis';

export interface CostBlock {
  arm: CostArmId;
  round: number;
  position: number;
  calls: number;
  p50Us: number;
  p99Us: number;
  wallUsPerCall: number;
  /** The client process's CPU (user + system) per call, µs. */
  cpuUsPerCall: number;
  /** redis-server's CPU (user + system, from INFO cpu) per call of this block, µs. */
  redisCpuUsPerCall: number;
  /** Limiter-script calls (EVALSHA + EVAL) Redis served during the block. */
  scriptCalls: number;
}

export interface CostArm {
  id: CostArmId;
  label: string;
  /** Pooled over every measured call of every round, µs. */
  p50Us: number;
  p90Us: number;
  p99Us: number;
}

export interface RedisCostResult {
  config: RedisCostConfig;
  arms: CostArm[];
  blocks: CostBlock[];
  /** retryscope warnings seen during the run (a store fallback would show here). */
  warnings: string[];
  /** os.loadavg() (1, 5, 15 min) at the start and end. */
  load?: { start: number[]; end: number[] };
}

const ARM_LABELS: Record<CostArmId, string> = {
  local: 'instrument() defaults: local limiter',
  redis: "instrument() with `limiter: { redis: 'redis://127.0.0.1:<port>' }`",
};

/** redis-server's CPU so far (user + system), µs. */
async function redisCpuUs(conn: RespConnection): Promise<number> {
  const text = String(await conn.command(['INFO', 'cpu']));
  return (infoField(text, 'used_cpu_user') + infoField(text, 'used_cpu_sys')) * 1e6;
}

export async function measureRedisCost(
  config: RedisCostConfig,
  context: Pick<SuiteContext, 'log'>,
): Promise<RedisCostResult> {
  const warnings: string[] = [];
  const onWarning = (w: Error) => {
    if (w.name === 'RetryscopeWarning') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  const start = os.loadavg();
  const server = await startServer();
  const redis = await startRedis('redis-cost');
  const conn = new RespConnection(redis.url);
  try {
    const sdk = () => new OpenAI({ baseURL: server.url, apiKey: API_KEY });
    const clients: Record<CostArmId, OpenAI> = {
      local: instrument(sdk()),
      redis: instrument(sdk(), { limiter: { redis: redis.url } }),
    };
    const ids: CostArmId[] = ['local', 'redis'];
    const latencies: Record<CostArmId, number[]> = { local: [], redis: [] };
    for (const id of ids)
      for (let i = 0; i < config.warmup; i++) await clients[id].chat.completions.create(REQUEST);
    const blocks: CostBlock[] = [];
    for (let round = 1; round <= config.rounds; round++) {
      for (const [position, id] of rotate(ids, round - 1).entries()) {
        const client = clients[id];
        const scripts0 = await scriptCalls(conn);
        const redis0 = await redisCpuUs(conn);
        const times: number[] = [];
        const cpu0 = process.cpuUsage();
        const wall0 = performance.now();
        for (let i = 0; i < config.callsPerBlock; i++) {
          const t = performance.now();
          await client.chat.completions.create(REQUEST);
          times.push((performance.now() - t) * 1000);
        }
        const wallUs = (performance.now() - wall0) * 1000;
        const cpu = process.cpuUsage(cpu0);
        const redisUs = (await redisCpuUs(conn)) - redis0;
        const scripts = (await scriptCalls(conn)) - scripts0;
        latencies[id].push(...times);
        const n = config.callsPerBlock;
        const block: CostBlock = {
          arm: id,
          round,
          position,
          calls: n,
          p50Us: percentile(times, 50),
          p99Us: percentile(times, 99),
          wallUsPerCall: wallUs / n,
          cpuUsPerCall: (cpu.user + cpu.system) / n,
          redisCpuUsPerCall: redisUs / n,
          scriptCalls: scripts,
        };
        blocks.push(block);
        context.log(
          `redis-cost round ${round}/${config.rounds} ${id.padEnd(5)}: p50 ${block.p50Us.toFixed(0)} µs, p99 ${block.p99Us.toFixed(0)} µs, CPU ${block.cpuUsPerCall.toFixed(0)} µs/call, redis-server CPU ${block.redisCpuUsPerCall.toFixed(1)} µs/call, ${scripts} script calls`,
        );
      }
    }
    return {
      config,
      arms: ids.map((id) => ({
        id,
        label: ARM_LABELS[id],
        p50Us: percentile(latencies[id], 50),
        p90Us: percentile(latencies[id], 90),
        p99Us: percentile(latencies[id], 99),
      })),
      blocks,
      warnings: [...new Set(warnings)],
      load: { start, end: os.loadavg() },
    };
  } finally {
    process.off('warning', onWarning);
    await conn.close();
    await redis.kill();
    await stopServer(server.child);
  }
}

const GOAL_P99_MS = 1;

export interface CostFigures {
  local: CostArm;
  redis: CostArm;
  addedP50Us: number;
  addedP99Us: number;
  /** Median over rounds of (redis − local) per round: the pairing cancels drift over the run. */
  addedP99UsByRound: number[];
  addedCpuUs: number;
  localCpuUs: number;
  redisCpuUs: number;
  /** redis-server's CPU per call in Redis blocks, less what it spends idle (local blocks). */
  serverCpuUs: number;
  scriptsPerCall: number;
}

export function costFigures(result: RedisCostResult): CostFigures | undefined {
  const local = result.arms.find((a) => a.id === 'local');
  const redis = result.arms.find((a) => a.id === 'redis');
  if (!local || !redis) return undefined;
  const of = (id: CostArmId) => result.blocks.filter((b) => b.arm === id);
  const rounds = [...new Set(result.blocks.map((b) => b.round))];
  const byRound = rounds.flatMap((round) => {
    const l = result.blocks.find((b) => b.round === round && b.arm === 'local');
    const r = result.blocks.find((b) => b.round === round && b.arm === 'redis');
    return l && r ? [r.p99Us - l.p99Us] : [];
  });
  const localCpu = median(of('local').map((b) => b.cpuUsPerCall));
  const redisCpu = median(of('redis').map((b) => b.cpuUsPerCall));
  const redisBlocks = of('redis');
  return {
    local,
    redis,
    addedP50Us: redis.p50Us - local.p50Us,
    addedP99Us: redis.p99Us - local.p99Us,
    addedP99UsByRound: byRound,
    addedCpuUs: redisCpu - localCpu,
    localCpuUs: localCpu,
    redisCpuUs: redisCpu,
    serverCpuUs:
      median(redisBlocks.map((b) => b.redisCpuUsPerCall)) -
      median(of('local').map((b) => b.redisCpuUsPerCall)),
    scriptsPerCall:
      sum(redisBlocks.map((b) => b.scriptCalls)) / Math.max(1, sum(redisBlocks.map((b) => b.calls))),
  };
}

const us = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '—');
const ms = (n: number) => (Number.isFinite(n) ? (n / 1000).toFixed(3) : '—');

export function redisCostGoals(result: RedisCostResult): Goal[] {
  const f = costFigures(result);
  if (!f) return [];
  return [
    {
      name: `Redis limiter adds ≤ ${GOAL_P99_MS} ms p99 per call on loopback (against the local limiter, one run)`,
      met: f.addedP99Us <= GOAL_P99_MS * 1000,
      detail: `measured +${ms(f.addedP99Us)} ms p99 (${ms(f.local.p99Us)} → ${ms(f.redis.p99Us)} ms), +${ms(f.addedP50Us)} ms p50; +${us(f.addedCpuUs)} µs client CPU per call (${us(f.localCpuUs)} → ${us(f.redisCpuUs)} µs), and ${f.serverCpuUs.toFixed(1)} µs of redis-server CPU per call`,
    },
  ];
}

export function renderRedisCost(result: RedisCostResult): string {
  const c = result.config;
  const f = costFigures(result);
  const lines = [
    '## Redis cost per call',
    '',
    `One process, sequential calls (one at a time) to a loopback server that always answers 200 with limits far out of reach (\`scripts/bench/overhead-server.ts\`, in a child process), through two clients built side by side: ${result.arms.map((a) => `**${a.id}**, ${a.label}`).join('; ')}. Both have the default telemetry (the no-op OpenTelemetry API). After ${c.warmup} warm-up calls each, ${c.rounds} rounds of one block of ${c.callsPerBlock} calls per client, their order alternating, so drift on the machine falls on both. Latency is per call, from \`create()\` to its result; CPU is \`process.cpuUsage()\` (user + system) of this process over the block, divided by its calls; redis-server's CPU is its \`used_cpu_user + used_cpu_sys\` from \`INFO cpu\` around each block (a local block's share is what Redis spends idle, subtracted below). redis-server runs on the same 2 cores, over loopback TCP.`,
    '',
    '| Client | p50 µs | p90 µs | p99 µs | Client CPU µs / call (median of blocks) | redis-server CPU µs / call (median of blocks) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const arm of result.arms) {
    const blocks = result.blocks.filter((b) => b.arm === arm.id);
    lines.push(
      `| ${arm.id} | ${us(arm.p50Us)} | ${us(arm.p90Us)} | ${us(arm.p99Us)} | ${us(median(blocks.map((b) => b.cpuUsPerCall)))} | ${median(blocks.map((b) => b.redisCpuUsPerCall)).toFixed(1)} |`,
    );
  }
  if (f) {
    lines.push(
      '',
      `Redis adds **${ms(f.addedP50Us)} ms at p50 and ${ms(f.addedP99Us)} ms at p99** per call (pooled over all blocks; per round, p99 differences of ${f.addedP99UsByRound.map((d) => ms(d)).join(', ')} ms), **${us(f.addedCpuUs)} µs of client CPU** per call, and ${f.serverCpuUs.toFixed(1)} µs of redis-server CPU per call. Redis served ${f.scriptsPerCall.toFixed(2)} limiter-script calls (\`EVALSHA\`) per call: 1 when every call booked with Redis, fewer when calls paced locally after a round trip missed \`redisTimeoutMs\`.${result.warnings.length ? ` **Warnings during the run:** ${result.warnings.join('; ')}.` : ' No call fell back to the local limiter.'}`,
    );
  }
  if (result.load)
    lines.push(
      '',
      `Load average (1/5/15 min) at the start ${result.load.start.map((l) => l.toFixed(2)).join(' / ')}, at the end ${result.load.end.map((l) => l.toFixed(2)).join(' / ')}, on ${os.availableParallelism()} cores. A loaded host shows in the tail: a process waiting for a core waits with its Redis reply in the socket.`,
    );
  return lines.join('\n');
}

export const redisCostSuite: Suite<RedisCostResult> = {
  id: 'redis-cost',
  title: 'Redis cost per call',
  run: (context) => measureRedisCost(context.quick ? REDIS_COST_QUICK : REDIS_COST_CONFIG, context),
  render: renderRedisCost,
  goals: redisCostGoals,
};
