/**
 * One process of the fleet benchmark, run as a CHILD process: its own
 * OpenAI client (and its own instrument(), so its own limiter), a crowd of
 * closed-loop callers against the simulator. Takes its settings as one JSON
 * argument (WorkerSpec), prints `READY` once its client exists, starts its
 * load window when the parent writes `GO` on stdin (so the fleet starts
 * together, process start-up not counted), and prints `RESULT <json>`.
 */
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import OpenAI from 'openai';
import { instrument } from '../../../src/index.ts';
import { API_KEY, retryscopeOptions } from '../arms.ts';
import { DEFAULT_CONFIG } from '../config.ts';
import { errorLabel, REQUEST } from '../harness.ts';

export type FleetArmId = 'plain' | 'local' | 'redis';

export interface WorkerSpec {
  simUrl: string;
  arm: FleetArmId;
  /** The arm `redis`: the shared store. */
  redisUrl?: string;
  callers: number;
  windowMs: number;
  deadlineMs: number;
  /** Stop each caller after this many calls (tests); by default only the window ends a caller. */
  maxCallsPerCaller?: number;
  /** The Redis arm's `redisTimeoutMs`; the default (50 ms) unless given. */
  redisTimeoutMs?: number;
}

export interface WorkerResult {
  calls: number;
  successes: number;
  /** Successes whose call completed inside the load window. */
  successesInWindow: number;
  /** Failed calls by the error the caller got, as the main table labels them. */
  errors: Record<string, number>;
  /** Successful calls: ms from create() to the result. */
  latenciesMs: number[];
  /** retryscope's process warnings (a Redis store that did not answer says so here). */
  warnings: string[];
}

const spec = JSON.parse(process.argv[2] ?? '{}') as WorkerSpec;
const warnings: string[] = [];
process.on('warning', (w) => {
  if (w.name === 'RetryscopeWarning') warnings.push(w.message);
});

const sdk = new OpenAI({ baseURL: spec.simUrl, apiKey: API_KEY, maxRetries: spec.arm === 'plain' ? 2 : 0 });
const options = retryscopeOptions({ ...DEFAULT_CONFIG, deadlineMs: spec.deadlineMs });
const client =
  spec.arm === 'plain'
    ? sdk
    : instrument(
        sdk,
        spec.arm === 'redis'
          ? {
              ...options,
              limiter: {
                redis: spec.redisUrl!,
                ...(spec.redisTimeoutMs ? { redisTimeoutMs: spec.redisTimeoutMs } : {}),
              },
            }
          : options,
      );

const result: WorkerResult = {
  calls: 0,
  successes: 0,
  successesInWindow: 0,
  errors: {},
  latenciesMs: [],
  warnings,
};

async function run(): Promise<void> {
  const t0 = performance.now();
  const caller = async () => {
    const most = spec.maxCallsPerCaller ?? Number.POSITIVE_INFINITY;
    for (let i = 0; i < most && performance.now() - t0 < spec.windowMs; i++) {
      result.calls++;
      const started = performance.now();
      try {
        await client.chat.completions.create(REQUEST);
        const ended = performance.now();
        result.successes++;
        result.latenciesMs.push(Math.round((ended - started) * 10) / 10);
        if (ended - t0 < spec.windowMs) result.successesInWindow++;
      } catch (error) {
        const label = errorLabel(error);
        result.errors[label] = (result.errors[label] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: spec.callers }, caller));
}

process.stdout.write('READY\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() !== 'GO') continue;
  await run();
  // Exit at once: idle keep-alive sockets and the limiter's timers must not hold the fleet's result.
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`, () => process.exit(0));
  break;
}
