/**
 * Pacing suites: benchmarks whose shape does not fit the arm × scenario
 * table of the main run (several models on one key, a fleet of processes,
 * a cold start, 429s that are not about load, the cost of Redis). Each suite
 * runs its own arms interleaved, returns plain JSON (saved with the run, so
 * `--render` can write the report again), and renders its own section and
 * goals of BENCHMARKS.md.
 */
import type { Goal } from './report.ts';
import { fleetSuite } from './suites/fleet.ts';
import { redisCostSuite } from './suites/redis-cost.ts';

export interface SuiteContext {
  /** `--quick`: shorter windows, fewer rounds; the figures are indicative only. */
  quick: boolean;
  /** Progress lines, to stderr. */
  log: (line: string) => void;
}

export interface Suite<R = unknown> {
  id: string;
  title: string;
  /** Runs every arm of the suite; the result must survive JSON.stringify/parse. */
  run(context: SuiteContext): Promise<R>;
  /** The report section, starting with its `## ` heading. */
  render(result: R): string;
  /** The goals the suite's issue sets, measured, met or not. */
  goals(result: R): Goal[];
}

/** Registered suites, in report order. */
export const SUITES: readonly Suite[] = [fleetSuite as Suite, redisCostSuite as Suite];

export const SUITE_IDS = SUITES.map((s) => s.id);

export function suites(ids?: readonly string[]): Suite[] {
  return SUITES.filter((s) => !ids || ids.includes(s.id));
}
