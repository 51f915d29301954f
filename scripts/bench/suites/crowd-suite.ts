/**
 * A suite of closed-loop crowds on one simulator key, one crowd per model,
 * all through one client per arm-run: the shape of "two models on one key"
 * and "cold start". Each model has limits of its own (the simulator's
 * `modelLimits`), so its answers' headers describe its own buckets.
 */
import type { SimulatorOptions } from '../../../src/simulator/index.ts';
import type { Goal } from '../report.ts';
import type { Suite } from '../suites.ts';
import {
  type CrowdRow,
  crowdRows,
  describeLoad,
  interleave,
  type LoadRun,
  type ModelLimit,
  renderCrowdTable,
  renderRunDetail,
  runLoad,
  SETTLE_MS,
  SUITE_ARMS,
} from './load.ts';

export interface CrowdModel {
  model: string;
  rpm: number;
  callers: number;
}

export interface CrowdResult {
  quick: boolean;
  rounds: number;
  windowMs: number;
  deadlineMs: number;
  burstMs: number;
  models: CrowdModel[];
  arms: { id: string; label: string; settings: string }[];
  runs: LoadRun[];
}

export interface CrowdSuiteSpec {
  id: string;
  title: string;
  models: readonly CrowdModel[];
  burstMs: number;
  rounds: { quick: number; full: number };
  windowMs: { quick: number; full: number };
  deadlineMs: number;
  /** What the section says first: the question, and what is special about the set-up. */
  intro(result: CrowdResult): string;
  goals(rows: CrowdRow[], result: CrowdResult): Goal[];
}

const LATENCY = { min: 20, max: 60 };
const SEED = 42;

export function crowdSimulator(
  models: readonly { model: string; rpm: number }[],
  burstMs: number,
  windowMs: number,
  seed: number,
): SimulatorOptions {
  return {
    scenario: {
      name: 'crowds',
      // The key's own limit is out of reach: every model asked for has limits of its own.
      limits: { rpm: 1_000_000, tpm: 1_000_000_000 },
      modelLimits: Object.fromEntries(models.map((m) => [m.model, { rpm: m.rpm, tpm: 10_000_000 }])),
      burstMs,
      loop: false,
      phases: [{ name: 'healthy', latencyMs: LATENCY }],
    },
    seed,
    durationMs: windowMs,
    countRejected: true,
  };
}

const limitsOf = (r: CrowdResult): ModelLimit[] =>
  r.models.map((m) => ({ model: m.model, rpm: m.rpm, burstMs: r.burstMs }));

export function crowdRowsOf(r: CrowdResult): CrowdRow[] {
  return crowdRows(
    r.runs,
    r.arms.map((a) => a.id),
    limitsOf(r),
  );
}

export function crowdSuite(spec: CrowdSuiteSpec): Suite<CrowdResult> {
  return {
    id: spec.id,
    title: spec.title,
    async run(ctx) {
      const rounds = ctx.quick ? spec.rounds.quick : spec.rounds.full;
      const windowMs = ctx.quick ? spec.windowMs.quick : spec.windowMs.full;
      const models = [...spec.models];
      const runs = await interleave(
        SUITE_ARMS,
        rounds,
        0,
        (arm, round, position) =>
          runLoad(
            {
              simulator: crowdSimulator(models, spec.burstMs, windowMs, SEED + round - 1),
              crowds: models,
              windowMs,
              deadlineMs: spec.deadlineMs,
            },
            arm,
            { round, position },
          ),
        ctx.log,
        describeLoad,
      );
      return {
        quick: ctx.quick,
        rounds,
        windowMs,
        deadlineMs: spec.deadlineMs,
        burstMs: spec.burstMs,
        models,
        arms: SUITE_ARMS.map((a) => ({ id: a.id, label: a.label, settings: a.settings(spec.deadlineMs) })),
        runs,
      };
    },
    render(r) {
      const label = (id: string) => r.arms.find((a) => a.id === id)?.label ?? id;
      const buckets = r.models.map((m) => `${(m.rpm * r.burstMs) / 60_000}`).join(' and ');
      return [
        `## ${spec.title}`,
        '',
        spec.intro(r),
        '',
        `**Method.** One simulator key; ${r.models.map((m) => `\`${m.model}\` limited to ${m.rpm} RPM`).join(', ')}, in buckets of ${r.burstMs} ms of the limit (${buckets} requests, full at the start, refilling continuously) that are the model's own (the simulator's \`modelLimits\`: each answer's \`x-ratelimit-*\` headers describe the model asked, as OpenAI's do); \`countRejected: true\`; 20–60 ms answers. One client per arm-run, with ${r.models.map((m) => `${m.callers} closed-loop callers on \`${m.model}\``).join(' and ')}, all starting together, for a ${r.windowMs / 1000} s window; then every call is awaited (retryscope's deadline ${r.deadlineMs / 1000} s). ${r.rounds} round${r.rounds === 1 ? '' : 's'}, the client order rotated each round, a fresh simulator and client per arm-run. Requests and 429s are counted per model at the client's \`fetch\`, so the SDK's own retries count. **Goodput × its limit**: successes inside the window ÷ (the model's rate × the window + its initial bucket), so 1.00 is every request the server could admit; the start's fixed costs (the hold until the first answer, the limiter's one request of slack, the last answers landing after the window) weigh more the smaller the bucket and the shorter the window. **From ${SETTLE_MS / 1000} s on**: successes from ${SETTLE_MS / 1000} s into the window to its end ÷ the model's rate over that time, the pace once running.${r.quick ? ' A `--quick` run: short windows, figures indicative only.' : ''}`,
        '',
        'Clients:',
        '',
        ...r.arms.map((a) => `- **${a.label}** (\`${a.id}\`): ${a.settings}.`),
        '',
        renderCrowdTable(crowdRowsOf(r), label),
        '',
        '<details><summary>Per arm-run detail</summary>',
        '',
        renderRunDetail(r.runs, limitsOf(r)),
        '',
        '</details>',
        '',
      ].join('\n');
    },
    goals(r) {
      return spec.goals(crowdRowsOf(r), r);
    },
  };
}
