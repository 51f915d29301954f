/**
 * The load the arms face. Each scenario is a simulator set-up (a custom
 * ScenarioDefinition, fresh for every arm-run) plus how calls arrive: open
 * loop (a fixed arrival rate, each arrival one call, whatever happened to
 * the calls before) or closed loop (callers making back-to-back calls).
 */
import type { ScenarioDefinition, SimulatorOptions } from '../../src/simulator/index.ts';
import { type BenchConfig, limitPerSec } from './config.ts';

export type Load = { kind: 'open'; factor: number } | { kind: 'closed'; callers: number };

export interface ScenarioSpec {
  id: string;
  title: string;
  /** One line for the report's method section. */
  description: string;
  load: Load;
  /** The load window's goodput is measured against the simulator's own limit; false for the quota run, whose limits are set out of the way. */
  limitBinds: boolean;
  /** Simulator options for one arm-run; `tokensPerCall` is what one successful call spends from the quota. */
  simulator(config: BenchConfig, seed: number, tokensPerCall: number): SimulatorOptions;
}

const LATENCY = { min: 20, max: 60 };

function limited(
  config: BenchConfig,
  name: string,
  phases: ScenarioDefinition['phases'],
): ScenarioDefinition {
  return {
    name,
    limits: { rpm: config.limitRpm, tpm: config.limitTpm },
    burstMs: config.burstMs,
    loop: false,
    phases,
  };
}

function openLoop(config: BenchConfig, id: string, factor: number, title: string): ScenarioSpec {
  return {
    id,
    title,
    description: `open loop at ${factor}× the limit (${factor * limitPerSec(config)} arrivals/s), healthy server, 20–60 ms answers`,
    load: { kind: 'open', factor },
    limitBinds: true,
    simulator: (config, seed) => ({
      scenario: limited(config, id, [{ name: 'healthy', latencyMs: LATENCY }]),
      seed,
      durationMs: config.windowMs,
      countRejected: true,
    }),
  };
}

export function scenarios(config: BenchConfig): ScenarioSpec[] {
  const all: ScenarioSpec[] = [
    openLoop(config, 'steady-0.8x', 0.8, 'Steady, 0.8× limit'),
    openLoop(config, 'storm-1.5x', 1.5, 'Storm, 1.5× limit'),
    openLoop(config, 'storm-3x', 3, 'Storm, 3× limit'),
    {
      id: 'outage-503',
      title: '5xx outage, 0.5× limit',
      description:
        'open loop at 0.5× the limit; in the middle third of the window 30% of admitted requests answer 503',
      load: { kind: 'open', factor: 0.5 },
      limitBinds: true,
      simulator: (c, seed) => ({
        scenario: limited(c, 'outage-503', [
          { name: 'before', latencyMs: LATENCY },
          { name: 'outage', latencyMs: LATENCY, faults: [{ kind: '503', probability: 0.3 }] },
          { name: 'after', latencyMs: LATENCY },
        ]),
        seed,
        durationMs: c.windowMs,
        countRejected: true,
      }),
    },
    {
      id: 'quota',
      title: 'Quota runs dry mid-window',
      description:
        'open loop at 0.5× the nominal limit; the key’s spend quota covers about half the window’s calls; rate limits set far out of reach, so every 429 is insufficient_quota',
      load: { kind: 'open', factor: 0.5 },
      limitBinds: false,
      simulator: (c, seed, tokensPerCall) => {
        const halfCalls = Math.floor((0.5 * limitPerSec(c) * c.windowMs) / 1000 / 2);
        return {
          scenario: {
            name: 'quota',
            limits: { rpm: 1_000_000, tpm: 1_000_000_000 },
            burstMs: 60_000,
            loop: false,
            phases: [{ name: 'healthy', latencyMs: LATENCY }],
          },
          seed,
          durationMs: c.windowMs,
          countRejected: true,
          // Half a call short of `halfCalls` calls: the call that crosses the line is served, the next is not.
          quotaTokens: Math.max(1, Math.round((halfCalls - 0.5) * tokensPerCall)),
        };
      },
    },
    {
      id: 'closed-50',
      title: `${config.closedCallers} concurrent callers`,
      description: `closed loop: ${config.closedCallers} callers, each making its next call as soon as the last one ends`,
      load: { kind: 'closed', callers: config.closedCallers },
      limitBinds: true,
      simulator: (c, seed) => ({
        scenario: limited(c, 'closed', [{ name: 'healthy', latencyMs: LATENCY }]),
        seed,
        durationMs: c.windowMs,
        countRejected: true,
      }),
    },
  ];
  if (!config.scenarios) return all;
  return all.filter((s) => config.scenarios!.includes(s.id));
}

export const SCENARIO_IDS = ['steady-0.8x', 'storm-1.5x', 'storm-3x', 'outage-503', 'quota', 'closed-50'];
