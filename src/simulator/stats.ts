/**
 * Counters of what the simulator received and how it answered. A request
 * counts the moment it arrives, so resets and hangs are never missed.
 */
import type { SimulatorStats } from './types.ts';

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

export class Stats {
  #stats: SimulatorStats = Stats.#empty();

  static #empty(): SimulatorStats {
    return { requests: 0, byRoute: {}, byStatus: {}, byKey: {}, resets: 0, hangs: 0, streamErrors: 0 };
  }

  received(route: string, key: string): void {
    this.#stats.requests += 1;
    bump(this.#stats.byRoute, route);
    bump(this.#stats.byKey, key);
  }

  answered(status: number): void {
    bump(this.#stats.byStatus, String(status));
  }

  reset(): void {
    this.#stats.resets += 1;
    bump(this.#stats.byStatus, 'reset');
  }

  hang(): void {
    this.#stats.hangs += 1;
    bump(this.#stats.byStatus, 'hang');
  }

  streamError(): void {
    this.#stats.streamErrors += 1;
  }

  /** A copy, so callers can keep it while traffic goes on. */
  snapshot(): SimulatorStats {
    return structuredClone(this.#stats);
  }

  clear(): void {
    this.#stats = Stats.#empty();
  }
}
