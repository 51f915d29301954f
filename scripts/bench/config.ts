/**
 * What one benchmark run is: how long each load window lasts, how many
 * rounds, the limit the simulator enforces and the retryscope settings.
 * Everything the report prints about its method comes from here.
 */

export interface BenchConfig {
  /** Interleaved rounds: every arm runs every scenario once per round. */
  rounds: number;
  /** How long load is offered in each arm-run, ms. */
  windowMs: number;
  /** The simulator's request limit, requests per minute. */
  limitRpm: number;
  /** The simulator's bucket, in ms of the limit (OpenAI may enforce a minute's limit over shorter windows). */
  burstMs: number;
  /** High enough never to bind: these runs are about requests, not tokens. */
  limitTpm: number;
  /** retryscope arms: the per-call deadline, ms. */
  deadlineMs: number;
  /** retryscope arms: attempts allowed, large so that the deadline bounds a call, not the count. */
  maxAttempts: number;
  /** Simulator fault seed for round 1; round r uses seed + r - 1, the same for every arm in that round. */
  seed: number;
  /** Closed-loop scenario: callers making back-to-back calls. */
  closedCallers: number;
  /** Overhead measurement: sequential calls per arm per round, and rounds. */
  overheadCalls: number;
  overheadRounds: number;
  overheadWarmup: number;
  /** Which scenarios and arms to run (all by default). */
  scenarios?: readonly string[];
  arms?: readonly string[];
  /** Skip the CPU-overhead measurement. */
  skipOverhead?: boolean;
}

export const DEFAULT_CONFIG: BenchConfig = {
  rounds: 2,
  windowMs: 8000,
  limitRpm: 1200,
  burstMs: 1000,
  limitTpm: 10_000_000,
  deadlineMs: 30_000,
  maxAttempts: 1000,
  seed: 42,
  closedCallers: 50,
  overheadCalls: 4000,
  overheadRounds: 7,
  overheadWarmup: 500,
};

/**
 * `--quick`: the same scenarios and clients, one round of 2 s windows, and a
 * 5 s deadline so that calls retried to the deadline do not set the pace:
 * under two minutes.
 */
export const QUICK_CONFIG: BenchConfig = {
  ...DEFAULT_CONFIG,
  rounds: 1,
  windowMs: 2000,
  deadlineMs: 5000,
  overheadCalls: 500,
  overheadRounds: 3,
  overheadWarmup: 100,
};

export function limitPerSec(config: BenchConfig): number {
  return config.limitRpm / 60;
}

/** Requests the simulator's full bucket holds at the start of an arm-run. */
export function initialBucket(config: BenchConfig): number {
  return Math.max(1, (config.limitRpm * Math.min(config.burstMs, 60_000)) / 60_000);
}
