/**
 * The demo's workload, planned before it runs: for each phase of the
 * scenario, which calls are made and when, from the seed and the duration
 * alone. The demo then moves the simulator from phase to phase itself, once
 * every call of a phase has finished, so no call straddles two phases and a
 * loaded machine makes a phase longer, never different.
 */
import { hashString, mulberry32 } from '../simulator/random.ts';
import type { PhaseDefinition, ScenarioDefinition } from '../simulator/types.ts';
import { type JobName, pickJob } from './workload.ts';

export interface PlannedCall {
  job: JobName;
  /** When the call may start, from the start of its phase. */
  atMs: number;
}

export interface PhasePlan {
  name: string;
  /** The phase's share of the run's duration. */
  durationMs: number;
  /** The phase's multiplier on the rate limits (below 1: a rate-limit storm). */
  limitsScale: number;
  /** Most calls in flight at once during the phase. */
  inFlight: number;
  calls: PlannedCall[];
}

/**
 * How long one call takes a caller when nothing goes wrong: a healthy answer
 * takes 20–60 ms, a stream about 100 ms more, and a service does other work
 * between calls. The figure only sets how many calls a phase gets; what becomes of
 * them is up to the simulator.
 */
export const HEALTHY_CALL_MS = 250;
/** A failed attempt costs a caller about one backoff wait and another attempt. */
const RETRY_COST_MS = 400;

/** The extra time a phase's faults add to an average call, so a phase's calls fit its share of the run. */
export function faultCostMs(phase: PhaseDefinition): number {
  let cost = 0;
  for (const fault of phase.faults ?? []) {
    const chance = Math.min(
      1,
      (fault.probability ?? 0) * (fault.burst ?? 1) + (fault.every ? 1 / fault.every : 0),
    );
    const each =
      fault.kind === 'hang'
        ? HANG_TIMEOUT_MS + RETRY_COST_MS
        : fault.kind === 'slow'
          ? (fault.delayMs ?? 2_000)
          : RETRY_COST_MS;
    cost += chance * each;
  }
  return cost;
}

/** The demo's per-attempt timeout: a hung request costs a caller this long. */
export const HANG_TIMEOUT_MS = 2_000;

/**
 * Measured: under the storm's cut limit (15% in 2 s bursts) the client's
 * limiter sends about a third of what the limit allows, so a storm sized to
 * the whole limit would last three times its share.
 */
export const PACED_SHARE_OF_CUT_LIMIT = 1 / 3;

export interface PlanOptions {
  durationMs: number;
  seed: number;
  concurrency: number;
  /** The simulator's requests per minute per key, before a phase scales it. */
  rpm: number;
}

/**
 * Splits the duration among the phases by weight, as the simulator does, and
 * gives each phase as many calls as `concurrency` callers would make in it.
 * Where the limits are cut (a storm), demand does not drop with them: the
 * phase gets what the paced client gets through in its share plus one
 * burst more, all offered at once, so the callers meet a real storm (the
 * server's burst is spent in the first second) and the phase still lasts
 * about its share.
 */
export function planPhases(scenario: ScenarioDefinition, options: PlanOptions): PhasePlan[] {
  const totalWeight = scenario.phases.reduce((sum, phase) => sum + (phase.weight ?? 1), 0);
  return scenario.phases.map((phase, index) => {
    const durationMs = (options.durationMs * (phase.weight ?? 1)) / totalWeight;
    const limitsScale = phase.limitsScale ?? 1;
    const perCaller = 1000 / (HEALTHY_CALL_MS + faultCostMs(phase));
    const offered = (options.concurrency * perCaller * durationMs) / 1000;
    let count = offered;
    let spreadMs = durationMs;
    if (limitsScale < 1) {
      const perSecond = (options.rpm * limitsScale) / 60;
      const burstMs = Math.min(60_000, phase.burstMs ?? scenario.burstMs ?? 60_000);
      count = Math.min(offered, (perSecond * (durationMs * PACED_SHARE_OF_CUT_LIMIT + burstMs)) / 1000);
      spreadMs = 0;
    }
    const n = Math.max(1, Math.round(count));
    // Each phase has its own stream, so one phase's plan never shifts another's.
    const random = mulberry32(hashString(`${options.seed}:${index}:${phase.name}`));
    const calls = Array.from({ length: n }, (_, k) => ({
      job: pickJob(random).name,
      atMs: Math.floor(((k + random()) * spreadMs) / n),
    }));
    return { name: phase.name, durationMs, limitsScale, inFlight: options.concurrency, calls };
  });
}
