/**
 * The current phase: from elapsed time on the scaled timeline, or pinned by
 * hand for tests. Each change of phase starts a new *visit*, which is what
 * quota phases and fault counters reset on.
 */
import { buildTimeline, type PhaseSpan, phaseAt } from './timeline.ts';
import type { Clock, PhaseDefinition } from './types.ts';

export interface CurrentPhase {
  index: number;
  phase: PhaseDefinition;
  visit: number;
}

export class PhaseClock {
  readonly #phases: readonly PhaseDefinition[];
  readonly #timeline: PhaseSpan[];
  readonly #loop: boolean;
  readonly #clock: Clock;
  readonly #startedAt: number;
  #pinned: number | undefined;
  #pins = 0;
  #lastKey = '';
  #visit = -1;

  constructor(phases: readonly PhaseDefinition[], durationMs: number, loop: boolean, clock: Clock) {
    this.#phases = phases;
    this.#timeline = buildTimeline(phases, durationMs);
    this.#loop = loop;
    this.#clock = clock;
    this.#startedAt = clock.now();
  }

  current(): CurrentPhase {
    let index: number;
    let key: string;
    if (this.#pinned !== undefined) {
      index = this.#pinned;
      key = `pin:${this.#pins}`;
    } else {
      const position = phaseAt(this.#timeline, this.#clock.now() - this.#startedAt, this.#loop);
      index = position.index;
      key = `time:${position.cycle}:${index}`;
    }
    if (key !== this.#lastKey) {
      this.#lastKey = key;
      this.#visit += 1;
    }
    return { index, phase: this.#phases[index]!, visit: this.#visit };
  }

  /** Pins a phase by name; `null` hands control back to the timeline. */
  pin(name: string | null): void {
    if (name === null) {
      this.#pinned = undefined;
      return;
    }
    const index = this.#phases.findIndex((phase) => phase.name === name);
    if (index === -1) {
      const known = this.#phases.map((phase) => phase.name).join(', ');
      throw new RangeError(`Unknown phase "${name}" (this scenario has: ${known})`);
    }
    this.#pinned = index;
    this.#pins += 1;
  }
}
