/**
 * The built-in scenarios. Weights are relative: each phase gets its share
 * of `durationMs`. `mixed` is the demo's default and tells the whole story.
 */
import type { NamedScenario, PhaseDefinition, ScenarioDefinition } from './types.ts';

/** A key that never runs out of quota in `quota` and `mixed`, so fallbacks have somewhere to go. */
export const FALLBACK_KEY = 'sk-sim-fallback';
/** The model that is down during `mixed`'s outage, so model fallbacks can be shown. */
export const OUTAGE_MODEL = 'gpt-4o';

const HEALTHY_LATENCY = { min: 20, max: 60 };

const steady: PhaseDefinition = { name: 'steady', latencyMs: HEALTHY_LATENCY };
const recovery: PhaseDefinition = { name: 'recovery', latencyMs: HEALTHY_LATENCY };
// Limits drop to 15% and only two seconds' worth may be spent at once, so
// the storm bites within a second or two even in a short run.
const storm: PhaseDefinition = {
  name: 'storm',
  limitsScale: 0.15,
  burstMs: 2_000,
  latencyMs: HEALTHY_LATENCY,
};
// Not a round number, so the request that runs the quota dry is usually
// part-way through: a stream breaks off mid-way with insufficient_quota.
export const QUOTA_PHASE_TOKENS = 397;
const quota: PhaseDefinition = { name: 'quota', quotaTokens: QUOTA_PHASE_TOKENS, latencyMs: HEALTHY_LATENCY };

export const NAMED_SCENARIOS: Readonly<Record<NamedScenario, ScenarioDefinition>> = {
  steady: {
    name: 'steady',
    description: 'Healthy service with generous limits.',
    phases: [steady],
  },
  storm: {
    name: 'storm',
    description: 'A rate-limit storm: limits drop to 15% (in 2 s bursts) for 40% of the run, then recover.',
    phases: [
      { ...steady, weight: 3 },
      { ...storm, weight: 4 },
      { ...recovery, weight: 3 },
    ],
  },
  outage: {
    name: 'outage',
    description: 'A 5xx burst with some connection resets, then recovery.',
    phases: [
      { ...steady, weight: 3 },
      {
        name: 'outage',
        weight: 4,
        latencyMs: HEALTHY_LATENCY,
        faults: [
          { kind: '503', probability: 0.25, burst: 3 },
          { kind: '500', probability: 0.2 },
          { kind: '502', probability: 0.1 },
          { kind: 'reset', probability: 0.05 },
        ],
      },
      { ...recovery, weight: 3 },
    ],
  },
  quota: {
    name: 'quota',
    description: `Spend runs out: in the quota phase each key may spend ${QUOTA_PHASE_TOKENS} tokens, then gets insufficient_quota (${FALLBACK_KEY} never runs out).`,
    keys: { [FALLBACK_KEY]: { quotaTokens: Number.POSITIVE_INFINITY } },
    phases: [
      { ...steady, weight: 4 },
      { ...quota, weight: 6 },
    ],
  },
  mixed: {
    name: 'mixed',
    description: `Steady, then a rate-limit storm, then an outage (5xx, resets, a few malformed, slow and hung answers; ${OUTAGE_MODEL} unavailable), then quota exhaustion. ${FALLBACK_KEY} never runs out of quota.`,
    keys: { [FALLBACK_KEY]: { quotaTokens: Number.POSITIVE_INFINITY } },
    phases: [
      steady,
      storm,
      {
        name: 'outage',
        latencyMs: HEALTHY_LATENCY,
        unavailableModels: [OUTAGE_MODEL],
        faults: [
          { kind: '503', probability: 0.2, burst: 2 },
          { kind: '500', probability: 0.1 },
          { kind: '502', probability: 0.05 },
          { kind: 'reset', probability: 0.04 },
          { kind: 'malformed', probability: 0.02 },
          { kind: 'slow', probability: 0.04, delayMs: 1500 },
          { kind: 'hang', probability: 0.02 },
          { kind: 'stream_error', probability: 0.05, afterChunks: 2 },
          // Failures inside a 200 (Responses only): a failed response, retried; a cut-short one, not.
          { kind: 'response_failed', probability: 0.1 },
          { kind: 'response_incomplete', probability: 0.05, code: 'content_filter' },
        ],
      },
      quota,
    ],
  },
};

export function isNamedScenario(name: string): name is NamedScenario {
  return Object.hasOwn(NAMED_SCENARIOS, name);
}
