/**
 * Where in the scenario a moment falls. Phases share the run by weight, so
 * the same scenario shows every phase in a 10 s test or a 10 min demo.
 */
import type { PhaseDefinition } from './types.ts';

export interface PhaseSpan {
  index: number;
  name: string;
  startMs: number;
  endMs: number;
}

export function buildTimeline(phases: readonly PhaseDefinition[], durationMs: number): PhaseSpan[] {
  const total = phases.reduce((sum, phase) => sum + (phase.weight ?? 1), 0);
  let start = 0;
  return phases.map((phase, index) => {
    const length = (durationMs * (phase.weight ?? 1)) / total;
    const span = { index, name: phase.name, startMs: start, endMs: start + length };
    start += length;
    return span;
  });
}

export interface PhasePosition {
  index: number;
  /** How many times the timeline has wrapped around (0 without `loop`). */
  cycle: number;
}

export function phaseAt(timeline: readonly PhaseSpan[], elapsedMs: number, loop: boolean): PhasePosition {
  const durationMs = timeline.at(-1)?.endMs ?? 0;
  const last = timeline.length - 1;
  if (durationMs <= 0) return { index: 0, cycle: 0 };
  const elapsed = Math.max(0, elapsedMs);
  if (!loop && elapsed >= durationMs) return { index: last, cycle: 0 };
  const cycle = Math.floor(elapsed / durationMs);
  const within = elapsed - cycle * durationMs;
  const index = timeline.findIndex((span) => within < span.endMs);
  return { index: index === -1 ? last : index, cycle };
}
