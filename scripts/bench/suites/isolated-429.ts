/**
 * 429s that are not about load. Every answer advertises ample room, and a
 * small share of them is a 429 anyway (a hiccup, a noisy upstream): a
 * limiter that believes the status over the headers cuts its rate for
 * nothing. Then a real storm, 3 s of nothing but 429s that say the bucket
 * is empty, and how long the client takes to be back to its earlier rate.
 */
import type { FaultAdvertise, SimulatorOptions } from '../../../src/simulator/index.ts';
import { fixed, type Goal } from '../report.ts';
import type { Suite } from '../suites.ts';
import {
  describeLoad,
  errorCount,
  errorsCell,
  interleave,
  type LoadRun,
  mergeErrors,
  runLoad,
  suiteArms,
} from './load.ts';

const MODEL = 'gpt-4o-mini';
const CALLERS = 50;
/** 100 000 RPM in a minute's bucket: 99 000 and more remaining throughout. */
const LIMIT_RPM = 100_000;
const SHARE_429 = 0.02;
const GOAL_RATIO = 0.9;
const STORM_MS = 3000;
/** Back when a 500 ms window's successes reach this share of the pre-storm rate. */
const RECOVERED = 0.9;
const RECOVERY_WINDOW_MS = 500;
const RECOVERY_STEP_MS = 50;
/** "Seconds, not tens of seconds": the bar this suite checks recovery against. */
const GOAL_RECOVERY_MS = 5000;
/** Rates are measured from here on, past the cold start. */
const SETTLE_MS = 1000;
const DEADLINE_MS = 10_000;
// Slow enough answers that, on an idle machine, 50 callers are bound by latency and pacing (about
// 170 calls/s), not by the CPU of the one process that runs client and server.
const LATENCY = { min: 250, max: 350 };
const SEED = 42;

/** The two ways a 429 with room can look: its own headers show room, or it has none and the last ones did. */
const VARIANTS: { id: string; advertise: FaultAdvertise; title: string }[] = [
  { id: 'room', advertise: 'actual', title: "the 429's own headers show the room" },
  {
    id: 'bare',
    advertise: 'none',
    title: 'the 429 has no rate-limit headers; the answers before it showed room',
  },
];

const THROUGHPUT_ARMS = ['rs-nolimiter', 'rs-default'];
const RECOVERY_ARMS = ['rs-nolimiter', 'rs-default'];

export interface IsolatedResult {
  quick: boolean;
  rounds: number;
  recoveryRounds: number;
  windowMs: number;
  deadlineMs: number;
  arms: { id: string; label: string; settings: string }[];
  /** Throughput runs, by variant id. */
  variants: Record<string, LoadRun[]>;
  recovery: { phasesMs: { pre: number; storm: number; post: number }; runs: LoadRun[] };
}

function simulator(
  phases: NonNullable<SimulatorOptions['scenario']> extends infer S
    ? S extends { phases: infer P }
      ? P
      : never
    : never,
  durationMs: number,
  seed: number,
): SimulatorOptions {
  return {
    scenario: {
      name: 'isolated-429',
      limits: { rpm: LIMIT_RPM, tpm: 1_000_000_000 },
      burstMs: 60_000,
      loop: false,
      phases,
    },
    seed,
    durationMs,
    countRejected: true,
  };
}

/** Successes from SETTLE_MS to the window's end: the cold start (a suite of its own) left out. */
function settled(run: LoadRun): number {
  return (run.models[MODEL]?.successTimesMs ?? []).filter((t) => t >= SETTLE_MS && t < run.windowMs).length;
}

/** Successes per second from SETTLE_MS to the window's end. */
export function successRate(run: LoadRun): number {
  return settled(run) / ((run.windowMs - SETTLE_MS) / 1000);
}

/** The pre-storm rate, the storm's end on the load's clock, and when a window first got back to RECOVERED of it. */
export function recoveryOf(run: LoadRun, phasesMs: IsolatedResult['recovery']['phasesMs']) {
  const times = run.models[MODEL]?.successTimesMs ?? [];
  const stormStart = phasesMs.pre - run.leadMs;
  const stormEnd = stormStart + phasesMs.storm;
  const count = (from: number, to: number) => times.filter((t) => t >= from && t < to).length;
  const preRate = count(SETTLE_MS, stormStart) / ((stormStart - SETTLE_MS) / 1000);
  const postEnd = run.windowMs;
  let backAtMs: number | undefined;
  for (let t = stormEnd; t + RECOVERY_WINDOW_MS <= postEnd; t += RECOVERY_STEP_MS) {
    const rate = count(t, t + RECOVERY_WINDOW_MS) / (RECOVERY_WINDOW_MS / 1000);
    if (rate >= RECOVERED * preRate) {
      backAtMs = t + RECOVERY_WINDOW_MS - stormEnd;
      break;
    }
  }
  const tailFrom = stormEnd + (postEnd - stormEnd) / 2;
  const tailRate = count(tailFrom, postEnd) / ((postEnd - tailFrom) / 1000);
  return {
    preRate,
    stormRate: count(stormStart, stormEnd) / (phasesMs.storm / 1000),
    /** ms from the storm's end to the end of the first 500 ms window back at RECOVERED; undefined if never. */
    backAtMs,
    /** The rate over the second half of the time after the storm, over the pre-storm rate. */
    tailShare: tailRate / preRate,
  };
}

function pooledRate(runs: readonly LoadRun[]): number {
  const successes = runs.reduce((n, r) => n + settled(r), 0);
  const seconds = runs.reduce((n, r) => n + (r.windowMs - SETTLE_MS) / 1000, 0);
  return seconds > 0 ? successes / seconds : 0;
}

/** retryscope defaults over the same client with its limiter off, pooled and per round. */
export function throughputRatio(runs: readonly LoadRun[]): { pooled: number; byRound: number[] } {
  const of = (arm: string) => runs.filter((r) => r.arm === arm);
  const on = of('rs-default');
  const off = of('rs-nolimiter');
  const rounds = [...new Set(runs.map((r) => r.round))].sort((a, b) => a - b);
  return {
    pooled: pooledRate(on) / pooledRate(off),
    byRound: rounds.map(
      (k) => pooledRate(on.filter((r) => r.round === k)) / pooledRate(off.filter((r) => r.round === k)),
    ),
  };
}

function throughputTable(runs: readonly LoadRun[], label: (id: string) => string, arms: string[]): string {
  const lines = [
    '| Client | Calls | Successes / s (per round) | Requests | 429s | 429s / success | Errors surfaced to callers |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const arm of arms) {
    const mine = runs.filter((r) => r.arm === arm).sort((a, b) => a.round - b.round);
    if (mine.length === 0) continue;
    const ms = mine.map((r) => r.models[MODEL]!);
    const total = (pick: (m: (typeof ms)[number]) => number) => ms.reduce((n, m) => n + pick(m), 0);
    const successes = total((m) => m.successes);
    const rounds = mine.length > 1 ? ` (${mine.map((r) => fixed(successRate(r), 0)).join(', ')})` : '';
    lines.push(
      `| ${label(arm)} | ${total((m) => m.calls)} | ${fixed(pooledRate(mine), 0)}${rounds} | ${total((m) => m.requests)} | ${total((m) => m.rejected429)} | ${fixed(successes > 0 ? total((m) => m.rejected429) / successes : Number.POSITIVE_INFINITY, 3)} | ${errorsCell(mergeErrors(ms.map((m) => m.errors)))} |`,
    );
  }
  return lines.join('\n');
}

const seconds = (ms: number | undefined) =>
  ms === undefined ? 'never, in the run' : `${fixed(ms / 1000, 2)} s`;

export const isolated429Suite: Suite<IsolatedResult> = {
  id: 'isolated-429',
  title: '429s that are not about load',
  async run(ctx) {
    // Many short rounds, A/B interleaved: the ratio of two CPU-sensitive rates needs the noise spread.
    const rounds = ctx.quick ? 1 : 3;
    const windowMs = 4000;
    const recoveryRounds = ctx.quick ? 1 : 2;
    const variants: Record<string, LoadRun[]> = {};
    for (const [i, v] of VARIANTS.entries()) {
      ctx.log(` ${v.id}: ${v.title}`);
      variants[v.id] = await interleave(
        suiteArms(THROUGHPUT_ARMS),
        rounds,
        i,
        (arm, round, position) =>
          runLoad(
            {
              simulator: simulator(
                [
                  {
                    name: 'hiccups',
                    latencyMs: LATENCY,
                    faults: [{ kind: '429', probability: SHARE_429, advertise: v.advertise }],
                  },
                ],
                windowMs,
                SEED + round - 1,
              ),
              crowds: [{ model: MODEL, callers: CALLERS }],
              windowMs,
              deadlineMs: DEADLINE_MS,
            },
            arm,
            { round, position },
          ),
        ctx.log,
        describeLoad,
      );
    }
    const phasesMs = ctx.quick
      ? { pre: 3000, storm: STORM_MS, post: 5000 }
      : { pre: 3000, storm: STORM_MS, post: 6000 };
    const total = phasesMs.pre + phasesMs.storm + phasesMs.post;
    ctx.log(
      ` recovery: ${phasesMs.pre / 1000} s healthy, ${STORM_MS / 1000} s of 429s, ${phasesMs.post / 1000} s healthy`,
    );
    const recoveryRuns = await interleave(
      suiteArms(RECOVERY_ARMS),
      recoveryRounds,
      0,
      (arm, round, position) =>
        runLoad(
          {
            simulator: simulator(
              [
                { name: 'before', weight: phasesMs.pre, latencyMs: LATENCY },
                {
                  name: 'storm',
                  weight: phasesMs.storm,
                  latencyMs: LATENCY,
                  // A real storm: every answer a 429 whose headers say the bucket is empty.
                  faults: [{ kind: '429', probability: 1, advertise: 'empty' }],
                },
                { name: 'after', weight: phasesMs.post, latencyMs: LATENCY },
              ],
              total,
              SEED + round - 1,
            ),
            crowds: [{ model: MODEL, callers: CALLERS }],
            windowMs: total,
            deadlineMs: DEADLINE_MS,
          },
          arm,
          { round, position },
        ),
      ctx.log,
      (run) => {
        const r = recoveryOf(run, phasesMs);
        return `${describeLoad(run)}  pre ${fixed(r.preRate, 0)}/s, back after ${seconds(r.backAtMs)}`;
      },
    );
    return {
      quick: ctx.quick,
      rounds,
      recoveryRounds,
      windowMs,
      deadlineMs: DEADLINE_MS,
      arms: suiteArms([...new Set([...THROUGHPUT_ARMS, ...RECOVERY_ARMS])]).map((a) => ({
        id: a.id,
        label: a.label,
        settings: a.settings(DEADLINE_MS),
      })),
      variants,
      recovery: { phasesMs, runs: recoveryRuns },
    };
  },
  render(r) {
    const label = (id: string) => r.arms.find((a) => a.id === id)?.label ?? id;
    const p = r.recovery.phasesMs;
    const out = [
      '## 429s that are not about load',
      '',
      `A 429 whose headers show ample room is not about this client's load (a hiccup, a noisy upstream); a limiter that cuts its rate for every 429 collapses for nothing. **Method.** One key limited to ${LIMIT_RPM.toLocaleString('en-US')} RPM in a minute's bucket, so every answer advertises 99,000 or more of ${LIMIT_RPM.toLocaleString('en-US')} requests remaining; ${CALLERS} closed-loop callers on \`${MODEL}\` through one client, for ${r.windowMs / 1000} s windows; ${SHARE_429 * 100}% of requests (seeded) answer the simulator's \`429\` fault, \`rate_limit_exceeded\` with \`retry-after-ms: 20\`. ${LATENCY.min}–${LATENCY.max} ms answers (so that on an idle machine latency and pacing, not CPU, bound the rate; on a loaded one the CPU share of the run's one process moves both arms' rates, which is why the ratio is taken per round and pooled). That latency is also the ceiling: ${CALLERS} callers at ${(LATENCY.min + LATENCY.max) / 2} ms can make at most about ${Math.round((CALLERS * 1000) / ((LATENCY.min + LATENCY.max) / 2))} calls/s, far under the limit, so the ratio says whether the limiter costs throughput when 429s carry room, at that rate, not how close either arm comes to the limit. \`countRejected: true\`, ${r.rounds} round${r.rounds === 1 ? '' : 's'} with the client order rotated, a fresh simulator and client per arm-run; retryscope's deadline ${r.deadlineMs / 1000} s. **Successes / s**: successes from ${SETTLE_MS / 1000} s into the window to its end ÷ that time, so the cold start (the hold until the first answer, one latency per arm-run: its own suite above) is left out and the figure is the rate once running. Two variants: ${VARIANTS.map((v) => `**${v.id}**, ${v.title}`).join('; ')}.${r.quick ? ' A `--quick` run: short windows, figures indicative only.' : ''}`,
      '',
      'Clients:',
      '',
      ...r.arms.map((a) => `- **${a.label}** (\`${a.id}\`): ${a.settings}.`),
      '',
    ];
    for (const v of VARIANTS) {
      const runs = r.variants[v.id] ?? [];
      const ratio = throughputRatio(runs);
      out.push(
        `**${v.id}**: ${v.title}. retryscope defaults reach ${fixed(ratio.pooled, 3)} of the throughput with the limiter off${ratio.byRound.length > 1 ? ` (rounds: ${ratio.byRound.map((x) => fixed(x, 3)).join(', ')})` : ''}.`,
        '',
        throughputTable(runs, label, THROUGHPUT_ARMS),
        '',
      );
    }
    out.push(
      '### Recovery after a storm',
      '',
      `The same ${CALLERS} callers (${r.recoveryRounds} round${r.recoveryRounds === 1 ? '' : 's'}), ${p.pre / 1000} s healthy, then ${p.storm / 1000} s in which every request answers \`429\` with headers that say the bucket is empty (a real storm), then ${p.post / 1000} s healthy again; limits as above. **Pre-storm rate**: successes per second from ${SETTLE_MS / 1000} s to the storm's start. **Back after**: from the storm's end to the end of the first ${RECOVERY_WINDOW_MS} ms window (sliding by ${RECOVERY_STEP_MS} ms) whose successes reach ${RECOVERED * 100}% of the pre-storm rate. **Later**: the rate over the second half of the healthy time after the storm, over the pre-storm rate. Phase times are the simulator's clock, which starts a few ms before the load (corrected per run).`,
      '',
      '| Round | Client | Pre-storm successes / s | During the storm / s | Back after | Later, × pre-storm | 429s | Errors |',
      '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...r.recovery.runs.map((run) => {
        const x = recoveryOf(run, p);
        const m = run.models[MODEL]!;
        return `| ${run.round} | ${label(run.arm)} | ${fixed(x.preRate, 0)} | ${fixed(x.stormRate, 0)} | ${seconds(x.backAtMs)} | ${fixed(x.tailShare)} | ${m.rejected429} | ${errorCount(m.errors)} |`;
      }),
      '',
    );
    return out.join('\n');
  },
  goals(r) {
    const goals: Goal[] = [];
    for (const v of VARIANTS) {
      const runs = r.variants[v.id];
      if (!runs?.some((x) => x.arm === 'rs-default') || !runs.some((x) => x.arm === 'rs-nolimiter')) continue;
      const ratio = throughputRatio(runs);
      goals.push({
        name: `${SHARE_429 * 100}% 429s with room (${v.id}: ${v.title}), retryscope defaults: ≥ ${GOAL_RATIO} of the throughput with the limiter off`,
        met: ratio.pooled >= GOAL_RATIO,
        detail: `measured ${fixed(ratio.pooled, 3)}${ratio.byRound.length > 1 ? ` (rounds: ${ratio.byRound.map((x) => fixed(x, 3)).join(', ')})` : ''}: ${fixed(pooledRate(runs.filter((x) => x.arm === 'rs-default')), 0)} against ${fixed(pooledRate(runs.filter((x) => x.arm === 'rs-nolimiter')), 0)} successes/s`,
      });
    }
    const mine = r.recovery.runs.filter((x) => x.arm === 'rs-default');
    if (mine.length > 0) {
      const backs = mine.map((x) => recoveryOf(x, r.recovery.phasesMs).backAtMs);
      goals.push({
        name: `Recovery after a ${STORM_MS / 1000} s storm, retryscope defaults: back to ${RECOVERED * 100}% of the pre-storm rate within ${GOAL_RECOVERY_MS / 1000} s ("seconds, not tens of seconds")`,
        met: backs.every((b) => b !== undefined && b <= GOAL_RECOVERY_MS),
        detail: `measured ${backs.map(seconds).join(', ')}${backs.length > 1 ? ' (per round)' : ''}`,
      });
    }
    return goals;
  },
};
