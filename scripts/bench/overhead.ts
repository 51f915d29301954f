/**
 * retryscope's CPU cost per call, against the plain SDK: thousands of
 * sequential calls per arm to a loopback server that always answers 200.
 * The server runs in a child process, so `process.cpuUsage()` here counts
 * the client only (SDK, undici, retryscope, telemetry). Arms are
 * interleaved over rounds, order rotated, each after a warm-up.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { instrument } from '../../src/index.ts';
import { discardingTelemetry } from '../lib/discarding-telemetry.ts';
import { API_KEY } from './arms.ts';
import { REQUEST, rotate } from './harness.ts';
import { median } from './stats.ts';

export interface OverheadArm {
  id: 'plain' | 'bare' | 'noop' | 'sdk' | 'spend';
  label: string;
  /** Per round: CPU µs (user + system) per call. */
  cpuUsPerCall: number[];
  /** Per round: wall µs per call. */
  wallUsPerCall: number[];
}

export interface OverheadResult {
  calls: number;
  rounds: number;
  warmup: number;
  arms: OverheadArm[];
  spansExported: number;
}

export interface OverheadOptions {
  calls: number;
  rounds: number;
  warmup: number;
  log?: (line: string) => void;
}

const SERVER = fileURLToPath(new URL('./overhead-server.ts', import.meta.url));
const START_TIMEOUT_MS = 15_000;

/** The loopback 200 server, as a child process (its CPU is not the client's). */
export async function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const timer = setTimeout(() => child.kill(), START_TIMEOUT_MS);
  try {
    for await (const line of lines) {
      const match = /^PORT (\d+)$/.exec(line);
      if (match) return { child, url: `http://127.0.0.1:${match[1]}/v1` };
    }
    throw new Error('bench: the overhead server exited before it listened');
  } finally {
    clearTimeout(timer);
  }
}

export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.stdin?.end();
  const timer = setTimeout(() => child.kill(), 5_000);
  await exited;
  clearTimeout(timer);
}

export async function measureOverhead(options: OverheadOptions): Promise<OverheadResult> {
  const { child, url } = await startServer();
  const { tracerProvider, meterProvider, counts } = discardingTelemetry(60_000);
  try {
    const sdk = (maxRetries?: number) =>
      new OpenAI({ baseURL: url, apiKey: API_KEY, ...(maxRetries === undefined ? {} : { maxRetries }) });
    const arms: (OverheadArm & { client: OpenAI; flush?: () => Promise<void> })[] = [
      {
        id: 'plain',
        label: 'openai (plain)',
        client: sdk(2),
        cpuUsPerCall: [],
        wallUsPerCall: [],
      },
      {
        id: 'bare',
        label: 'instrument(), no-op OTel API, validation, limiter, retry budget and breaker off',
        client: instrument(sdk(), {
          validate: false,
          limiter: false,
          retryBudget: false,
          circuitBreaker: false,
        }),
        cpuUsPerCall: [],
        wallUsPerCall: [],
      },
      {
        id: 'noop',
        label: 'instrument() defaults, no-op OTel API',
        client: instrument(sdk()),
        cpuUsPerCall: [],
        wallUsPerCall: [],
      },
      {
        id: 'sdk',
        label: 'instrument() defaults, OTel SDK (batch spans + metrics)',
        client: instrument(sdk(), { tracerProvider, meterProvider }),
        // Its export work is charged to it: flushed inside its own measured interval.
        flush: async () => {
          await tracerProvider.forceFlush();
          await meterProvider.forceFlush();
        },
        cpuUsPerCall: [],
        wallUsPerCall: [],
      },
      {
        id: 'spend',
        label: 'instrument() with a tag and a daily budget, OTel SDK (batch spans + metrics)',
        // Usage and cost's opt-in parts on top of the defaults (pricing is always on): a tag read per
        // call, a budget checked before and charged after it. The budget is out of reach, never refusing.
        client: instrument(sdk(), {
          tracerProvider,
          meterProvider,
          tagKeys: ['feature'],
          tags: { feature: 'bench' },
          budget: { usd: 1e9, per: 'day' },
        }),
        flush: async () => {
          await tracerProvider.forceFlush();
          await meterProvider.forceFlush();
        },
        cpuUsPerCall: [],
        wallUsPerCall: [],
      },
    ];
    const calls = async (client: OpenAI, n: number) => {
      for (let i = 0; i < n; i++) await client.chat.completions.create(REQUEST);
    };
    for (const arm of arms) {
      await calls(arm.client, options.warmup);
      await arm.flush?.();
    }
    for (let round = 0; round < options.rounds; round++) {
      for (const arm of rotate(arms, round)) {
        const cpu0 = process.cpuUsage();
        const wall0 = performance.now();
        await calls(arm.client, options.calls);
        await arm.flush?.();
        const cpu = process.cpuUsage(cpu0);
        const wallMs = performance.now() - wall0;
        arm.cpuUsPerCall.push((cpu.user + cpu.system) / options.calls);
        arm.wallUsPerCall.push((wallMs * 1000) / options.calls);
        options.log?.(
          `overhead round ${round + 1}/${options.rounds} ${arm.id}: ${arm.cpuUsPerCall.at(-1)!.toFixed(0)} µs CPU/call, ${arm.wallUsPerCall.at(-1)!.toFixed(0)} µs wall/call`,
        );
      }
    }
    return {
      calls: options.calls,
      rounds: options.rounds,
      warmup: options.warmup,
      arms: arms.map(({ id, label, cpuUsPerCall, wallUsPerCall }) => ({
        id,
        label,
        cpuUsPerCall,
        wallUsPerCall,
      })),
      spansExported: counts.spans,
    };
  } finally {
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
    await stopServer(child);
  }
}

/** Median CPU and wall µs per call of an arm. */
export function summarize(arm: OverheadArm): { cpu: number; wall: number } {
  return { cpu: median(arm.cpuUsPerCall), wall: median(arm.wallUsPerCall) };
}
