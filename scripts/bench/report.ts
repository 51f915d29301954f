/**
 * BENCHMARKS.md: method, machine, the table, the goals checked against it,
 * notes drawn from the numbers, the storm chart and the CPU overhead.
 */
import { admissible, type Row, rows as toRows } from './aggregate.ts';
import { initialBucket, limitPerSec } from './config.ts';
import { type BenchResult, REQUEST } from './harness.ts';
import { type OverheadResult, summarize } from './overhead.ts';
import { sum } from './stats.ts';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  os: string;
  node: string;
  openai: string;
  commit: string;
  loadAtStart: number[];
  loadAtEnd: number[];
}

export interface ReportInput {
  result: BenchResult;
  overhead?: OverheadResult;
  machine: Machine;
  /** How the run was started, e.g. `npm run bench`. */
  command: string;
  quick: boolean;
  chartPath?: string;
  /** Pacing suites' sections (markdown from their `## ` heading) and goals. */
  suites?: { markdown: string; goals: Goal[] }[];
  /** Set when the report was written again from saved results (`--render`): by what. */
  rendered?: string;
}

export interface Goal {
  name: string;
  met: boolean;
  detail: string;
}

const STORM_GOAL = { scenario: 'storm-3x', arm: 'rs-default', goodput: 0.95, per429: 0.1 };
const OVERHEAD_GOAL = 0.05;
/** With a real SDK recording every span and metric, the house issue allows three times as much. */
const OVERHEAD_SDK_GOAL = 0.15;
/** Notes look at successes from this far into the window on, once the initial bucket is spent. */
const SETTLE_MS = 2000;

/** A figure as the report writes it: NaN as —, Infinity as ∞. */
export const fixed = (n: number, digits = 2) =>
  Number.isFinite(n) ? n.toFixed(digits) : Number.isNaN(n) ? '—' : '∞';
const ms = (n: number) => (Number.isFinite(n) ? String(Math.round(n)) : '—');

function errorsCell(row: Row): string {
  if (row.errorCount === 0) return '0';
  const parts = Object.entries(row.errors)
    .sort((a, b) => b[1] - a[1])
    .map(([label, n]) => `${label} ${n}`);
  return `**${row.errorCount}**: ${parts.join('<br>')}`;
}

function goodputCell(row: Row, dagger: boolean): string {
  const rounds =
    row.goodputByRound.length > 1 ? ` (${row.goodputByRound.map((g) => fixed(g)).join(', ')})` : '';
  return `${fixed(row.goodput)}${dagger ? '†' : ''}${rounds}`;
}

export function renderTable(result: BenchResult, rows: Row[] = toRows(result)): string {
  const label = (id: string) => result.arms.find((a) => a.id === id)?.label ?? id;
  const lines = [
    '| Scenario | Client | Calls | Goodput × limit | Attempts / success | 429s | 429s / success | Errors surfaced to callers | p50 ms | p95 ms | p99 ms | Attempts / quota-exhausted call |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    const scenario = result.scenarios.find((s) => s.id === row.scenario)!;
    lines.push(
      `| ${scenario.title} | ${label(row.arm)} | ${row.calls} | ${goodputCell(row, !scenario.limitBinds)} | ${fixed(row.attemptsPerSuccess)} | ${row.server429} | ${fixed(row.per429Success)} | ${errorsCell(row)} | ${ms(row.p50)} | ${ms(row.p95)} | ${ms(row.p99)} | ${row.attemptsPerQuotaCall === undefined ? '' : fixed(row.attemptsPerQuotaCall)} |`,
    );
  }
  return lines.join('\n');
}

function find(rows: Row[], scenario: string, arm: string): Row | undefined {
  return rows.find((r) => r.scenario === scenario && r.arm === arm);
}

export function goals(result: BenchResult, rows: Row[], overhead?: OverheadResult): Goal[] {
  const out: Goal[] = [];
  const storm = find(rows, STORM_GOAL.scenario, STORM_GOAL.arm);
  if (storm) {
    out.push({
      name: `3× storm, retryscope defaults: goodput ≥ ${STORM_GOAL.goodput} × limit`,
      met: storm.goodput >= STORM_GOAL.goodput,
      detail: `measured ${fixed(storm.goodput, 3)}${storm.goodputByRound.length > 1 ? ` (rounds: ${storm.goodputByRound.map((g) => fixed(g, 3)).join(', ')})` : ''}`,
    });
    out.push({
      name: `3× storm, retryscope defaults: ≤ ${STORM_GOAL.per429} 429s per success`,
      met: storm.per429Success <= STORM_GOAL.per429,
      detail: `measured ${fixed(storm.per429Success, 3)} (${storm.server429} 429s, ${storm.successes} successes)`,
    });
  }
  for (const arm of result.arms.filter((a) => a.kind === 'retryscope')) {
    const quota = find(rows, 'quota', arm.id);
    if (!quota) continue;
    out.push({
      name: `Quota, ${arm.label}: exactly 1 attempt per quota-exhausted call`,
      met: quota.attemptsPerQuotaCall === 1,
      detail: `measured ${quota.attemptsPerQuotaCall === undefined ? 'no quota-exhausted call' : fixed(quota.attemptsPerQuotaCall, 3)} (${quota.server429} insufficient_quota responses, ${quota.quotaExhaustedCalls} calls)`,
    });
  }
  if (overhead) {
    const o = overheadFigures(overhead);
    if (o)
      out.push({
        name: `CPU overhead: retryscope (no-op API) adds < ${OVERHEAD_GOAL * 100}% to a loopback call`,
        met: o.addedNoop / o.plain.cpu < OVERHEAD_GOAL,
        detail: `+${fixed(o.addedNoop, 0)} µs CPU per call over the plain SDK's ${fixed(o.plain.cpu, 0)} µs: +${fixed((100 * o.addedNoop) / o.plain.cpu, 1)}% of the client's CPU per call (+${fixed((100 * o.addedNoop) / o.plain.wall, 1)}% of a plain call's ${fixed(o.plain.wall, 0)} µs wall time)`,
      });
    if (o)
      out.push({
        name: `CPU overhead: retryscope with an OpenTelemetry SDK recording every span and metric adds ≤ ${OVERHEAD_SDK_GOAL * 100}% to a loopback call`,
        met: o.addedSdk / o.plain.cpu <= OVERHEAD_SDK_GOAL,
        detail: `+${fixed(o.addedSdk, 0)} µs CPU per call over the plain SDK's ${fixed(o.plain.cpu, 0)} µs: +${fixed((100 * o.addedSdk) / o.plain.cpu, 1)}%`,
      });
  }
  return out;
}

function overheadFigures(overhead: OverheadResult) {
  const get = (id: string) => overhead.arms.find((a) => a.id === id);
  const plain = get('plain');
  const noop = get('noop');
  const sdk = get('sdk');
  const bare = get('bare');
  if (!plain || !noop || !sdk) return undefined;
  const p = summarize(plain);
  const n = summarize(noop);
  const s = summarize(sdk);
  const b = bare ? summarize(bare) : undefined;
  return {
    plain: p,
    noop: n,
    sdk: s,
    addedNoop: n.cpu - p.cpu,
    addedSdk: s.cpu - p.cpu,
    addedBare: b ? b.cpu - p.cpu : undefined,
  };
}

export function renderOverhead(overhead: OverheadResult): string {
  const o = overheadFigures(overhead);
  if (!o) return '';
  const lines = [
    '| Client | CPU µs / call (median) | per round | Wall µs / call (median) | Added CPU vs plain | Ratio to plain |',
    '| --- | ---: | --- | ---: | ---: | ---: |',
  ];
  for (const arm of overhead.arms) {
    const s = summarize(arm);
    const added = s.cpu - o.plain.cpu;
    lines.push(
      `| ${arm.label} | ${fixed(s.cpu, 0)} | ${arm.cpuUsPerCall.map((v) => fixed(v, 0)).join(', ')} | ${fixed(s.wall, 0)} | ${arm.id === 'plain' ? '—' : `${added >= 0 ? '+' : ''}${fixed(added, 0)} µs`} | ${fixed(s.cpu / o.plain.cpu, 3)} |`,
    );
  }
  return lines.join('\n');
}

/** Observations that follow from the numbers; each only when the numbers say so. */
function notes(input: ReportInput, rows: Row[]): string[] {
  const { result } = input;
  const c = result.config;
  const out: string[] = [];
  const storm = find(rows, 'storm-3x', 'rs-default');
  if (storm && (storm.goodput < STORM_GOAL.goodput || storm.per429Success > STORM_GOAL.per429)) {
    out.push(
      `**The 3× storm goal is not met** by retryscope's defaults in this run (goodput ${fixed(storm.goodput, 3)}, ${fixed(storm.per429Success, 3)} 429s per success): about ${fixed(sum(storm.runs.map((r) => admissible(c, r.windowMs) - r.successesInWindow)) / storm.runs.length, 1)} of the ${fixed(admissible(c, c.windowMs), 0)} requests the server could admit per run went unused. A loss of a few requests per run (the limiter keeps one request of the bucket in reserve, and the last answers of the window land after it) is a fixed cost that weighs more the shorter the window. See the per-run detail below for whether it is one round or all of them.`,
    );
  }
  // Successes after the start (the first SETTLE_MS of the window), per run: what a client gets once the initial bucket is gone.
  const laterRate = (row: Row) => {
    const later = sum(
      row.runs.map((r) => r.successTimesMs.filter((t) => t >= SETTLE_MS && t < r.windowMs).length),
    );
    const allowed = sum(row.runs.map((r) => (limitPerSec(c) * Math.max(0, r.windowMs - SETTLE_MS)) / 1000));
    return allowed > 0 ? later / allowed : Number.NaN;
  };
  const overloaded = rows.filter(
    (r) =>
      (r.scenario.startsWith('storm') || r.scenario === 'closed-50') &&
      (r.arm === 'openai-r2' || r.arm === 'openai-r5' || r.arm === 'rs-nolimiter'),
  );
  if (overloaded.length > 0 && overloaded.every((r) => r.goodput < 0.8)) {
    const lo = Math.min(...overloaded.map((r) => r.goodput));
    const hi = Math.max(...overloaded.map((r) => r.goodput));
    const laterHi = Math.max(...overloaded.map(laterRate));
    out.push(
      `Under overload (the storms and ${c.closedCallers} callers) every client without the limiter gets little more than the bucket's initial ${initialBucket(c)} requests: goodput ${fixed(lo)}–${fixed(hi)}, and ${laterHi === 0 ? `not one success from ${SETTLE_MS / 1000} s into the window on` : `from ${SETTLE_MS / 1000} s into the window on at most ${fixed(laterHi)} × limit`}. This is \`countRejected\` at work: a rejected request spends from the bucket like an admitted one (the simulator caps the debt at one extra bucketful), so while first tries and retries together arrive faster than the bucket refills, it never has room and everything is rejected. The SDK waits exactly \`retry-after-ms\`, so callers refused together come back together; maxRetries 5 only adds requests (compare attempts per success). Against a server that did not count rejections the same clients would get through at about the limit (checked separately for the 3× storm), with many 429s: this table is for OpenAI's documented behaviour, where they count.`,
    );
  }
  const noLimiter = rows.filter((r) => r.arm === 'rs-nolimiter' && r.scenario.startsWith('storm'));
  if (noLimiter.some((r) => r.attemptsPerSuccess > 10)) {
    const worst = noLimiter.reduce((a, b) => (a.attemptsPerSuccess > b.attemptsPerSuccess ? a : b));
    out.push(
      `retryscope with its limiter off is the worst arm under overload: with a ${c.deadlineMs / 1000} s deadline and up to ${c.maxAttempts} attempts, each 429 is retried after exactly the server's \`retry-after-ms\` until the deadline, so it sends up to ${fixed(worst.attemptsPerSuccess, 0)} requests per success (${worst.scenario}) and its failed calls end \`deadline_exceeded\`. This is why the limiter is on by default. The retry budget does not stop it, because 429 retries cost the budget nothing by default (it assumes a limiter paces them), even when the limiter is off.`,
    );
  }
  const queued = rows.filter((r) => r.arm === 'rs-default' && r.scenario.startsWith('storm'));
  for (const r of queued) {
    const factor = result.scenarios.find((s) => s.id === r.scenario)?.load;
    if (factor?.kind !== 'open') continue;
    out.push(
      `In the ${factor.factor}× storm retryscope's defaults hold excess calls in the client-side queue instead of sending them: the queue grows by ${fixed((factor.factor - 1) * limitPerSec(c), 0)} calls/s for the whole window, so latency grows with the window (p50 ${ms(r.p50)} ms, p99 ${ms(r.p99)} ms here) and calls keep completing after the window ends (${r.successes} of ${r.calls} calls succeeded in all). Open-loop load above the limit has no good answer but to queue or refuse; a call whose slot would come after its deadline is refused at once with \`ClientRateLimitError\` (\`deadline_exceeded\`), nothing sent.`,
    );
  }
  const closed = find(rows, 'closed-50', 'rs-default');
  if (closed && closed.server429 > 0) {
    const skipMs = SETTLE_MS;
    const later = sum(
      closed.runs.map((r) => r.successTimesMs.filter((t) => t >= skipMs && t < r.windowMs).length),
    );
    const laterAllowed = sum(closed.runs.map((r) => (limitPerSec(c) * (r.windowMs - skipMs)) / 1000));
    const lost =
      sum(closed.runs.map((r) => admissible(c, r.windowMs) - r.successesInWindow)) / closed.runs.length;
    out.push(
      `${c.closedCallers} concurrent callers, retryscope defaults: ${closed.server429} 429s in ${closed.runs.length} run(s), and a goodput of ${fixed(closed.goodput)}. The limiter knows no limit until the first response's \`x-ratelimit-*\` headers arrive, so the first ${c.closedCallers} calls leave together; ${Math.max(0, c.closedCallers - initialBucket(c))} of them find the ${initialBucket(c)}-request bucket empty, which (rejections counting) leaves it in debt for about a second, and the limiter then also cuts its rate for the 429s. That start costs about ${fixed(lost, 0)} of the ${fixed(admissible(c, c.windowMs), 0)} requests the server could admit per run${laterAllowed > 0 ? `; from ${skipMs / 1000} s on, goodput is ${fixed(later / laterAllowed)}` : ''}.`,
    );
  }
  const quotaPlain = rows.filter((r) => r.scenario === 'quota' && r.arm.startsWith('openai'));
  if (quotaPlain.length > 0) {
    out.push(
      `Quota: the plain SDK retries \`insufficient_quota\` like any 429 (${quotaPlain.map((r) => `${fixed(r.attemptsPerQuotaCall ?? Number.NaN)} attempts per quota-exhausted call with ${r.arm === 'openai-r2' ? 'maxRetries 2' : 'maxRetries 5'}`).join(', ')}), each after its own exponential backoff, as the simulator (like OpenAI) sends no \`retry-after\` for it. retryscope never retries it.`,
    );
  }
  const cut = rows.filter((r) => r.cutOff > 0);
  if (cut.length > 0) {
    out.push(
      `**Safety cap hit:** ${cut.map((r) => `${r.scenario}/${r.arm}: ${r.cutOff} calls`).join(', ')} were still running ${fixed((c.windowMs + c.deadlineMs) / 1000 + 30, 0)} s after the load started and were aborted (counted as errors).`,
    );
  }
  const o = input.overhead ? overheadFigures(input.overhead) : undefined;
  if (o && o.addedNoop / o.plain.cpu >= OVERHEAD_GOAL) {
    const pct = (n: number) => `${fixed((100 * n) / o.plain.cpu, 0)}%`;
    out.push(
      `**The CPU-overhead goal is not met**: retryscope's defaults add ${fixed(o.addedNoop, 0)} µs of client CPU per call (${pct(o.addedNoop)} of the plain SDK's ${fixed(o.plain.cpu, 0)} µs for a loopback call), and ${fixed(o.addedSdk, 0)} µs (${pct(o.addedSdk)}) with a real OpenTelemetry SDK recording every span and metric.${o.addedBare === undefined ? '' : ` With validation, the limiter, the retry budget and the circuit breaker all off it still adds ${fixed(o.addedBare, 0)} µs (${pct(o.addedBare)})${o.addedBare >= 0.6 * o.addedNoop ? ', so most of the cost is the per-call wrapper and its telemetry bookkeeping (span and metric attribute objects are built even when the OpenTelemetry API is the no-op), not the policy mechanisms' : `: the policy mechanisms account for the other ${fixed(o.addedNoop - o.addedBare, 0)} µs`}.`} Against a real API call, which takes hundreds of milliseconds, ${fixed(o.addedNoop, 0)} µs is well under 0.1%; against a loopback call it is not under 5%.`,
    );
  }
  if (input.quick) {
    out.push(
      `This is a \`--quick\` run: ${c.rounds} round, ${c.windowMs / 1000} s windows and a ${c.deadlineMs / 1000} s deadline. The initial bucket is a large share of so short a window, so goodput is coarse; use the default run for figures to quote.`,
    );
  }
  out.push(
    `The simulator runs in the benchmark's own process, so client and server share one event loop and ${input.machine.cores} cores. At these rates (at most a few hundred requests per second, in the no-limiter storms) that adds scheduling noise of a few ms to latencies, not throughput limits. Load average at start ${input.machine.loadAtStart.map((l) => l.toFixed(2)).join(' / ')}, at end ${input.machine.loadAtEnd.map((l) => l.toFixed(2)).join(' / ')}: other work on the machine, if any, hit all arms alike through the rotation.`,
  );
  return out;
}

export function renderReport(input: ReportInput): string {
  const { result, overhead, machine } = input;
  const c = result.config;
  const rows = toRows(result);
  const checks = [...goals(result, rows, overhead), ...(input.suites ?? []).flatMap((s) => s.goals)];
  const minutes = (result.finishedAt.getTime() - result.startedAt.getTime()) / 60_000;
  const perRate = limitPerSec(c);
  const bucket = initialBucket(c);
  const windowS = c.windowMs / 1000;
  const out: string[] = [];
  out.push(
    '# Benchmarks',
    '',
    `Generated by \`${input.command}\` (\`scripts/bench.ts\`) on ${result.startedAt.toISOString()}; ${c.rounds} round${c.rounds === 1 ? '' : 's'}, ${minutes.toFixed(1)} minutes in all. Do not edit by hand: run it again.${input.rendered ? ` This text was rendered again from that run's saved results by ${input.rendered}.` : ''}`,
    '',
    '## Method',
    '',
    `- **Server:** retryscope's built-in OpenAI-compatible simulator (\`src/simulator\`) on 127.0.0.1, started fresh for every arm-run, so every arm-run starts with a full bucket and a fresh quota. Limit: ${c.limitRpm} RPM (${perRate} requests/s) per key, enforced as a bucket holding ${c.burstMs} ms of the limit (\`burstMs: ${c.burstMs}\`, ${bucket} requests) that refills continuously, as OpenAI may enforce a minute's limit over shorter periods. ${c.limitTpm.toLocaleString('en-US')} TPM, which never binds. \`countRejected: true\`: a rejected request still takes a request from the bucket, as OpenAI documents. Healthy answers take 20–60 ms (seeded).`,
    `- **Calls:** every call is \`chat.completions.create(${JSON.stringify(REQUEST)})\`, not streamed; a success spends ${result.tokensPerCall} tokens of quota.`,
    `- **Load:** each arm-run offers load for a window of ${windowS} s, then starts no new call and waits for every call it started to settle (plain SDK: bounded by its retries; retryscope: by the deadline; all: by a safety cap that aborts anything still running ${(c.windowMs + c.deadlineMs) / 1000 + 30} s after the start). *Open loop*: calls arrive at a fixed rate, each arrival one call, whatever became of the earlier ones. *Closed loop*: callers each make their next call as soon as the last one ended.`,
    `- **Rounds:** ${c.rounds}. Each round runs every scenario with every client, one arm-run at a time, and rotates the client order by one for each scenario and round, so machine noise and position effects fall on every client alike. Fault seeds: ${c.seed} in round 1, +1 per round, the same for every client within a round.`,
    '',
    'Scenarios:',
    '',
    ...result.scenarios.map((s) => `- **${s.title}** (\`${s.id}\`): ${s.description}.`),
    '',
    'Clients:',
    '',
    ...result.arms.map((a) => `- **${a.label}** (\`${a.id}\`): ${a.settings(c)}.`),
    '',
    `retryscope's telemetry goes through the global OpenTelemetry API with no SDK registered (the API's no-op tracer and meter), so the arms compare policies, not exporters; the cost of a real SDK is measured separately under [CPU overhead](#cpu-overhead).`,
    '',
    '## Definitions',
    '',
    `- **Goodput × limit**: successful calls that completed inside the load window ÷ (${perRate} req/s × ${windowS} s + ${bucket}). The simulator's bucket starts full, so in a window of T s it can admit at most ${perRate}·T + ${bucket} requests (the initial bucket plus the refill); that is the denominator, and 1.00 means every request the server could have admitted in the window was a successful call. The steady and outage scenarios offer 0.8× and 0.5× the limit, so those are (about) their ceilings. † Quota: the simulator's limits are set out of reach there; the figure uses the nominal ${perRate} req/s as its yardstick. Pooled over rounds; each round's value in parentheses.`,
    '- **Attempts / success**: requests the simulator received in the whole arm-run (after the window too) ÷ successful calls.',
    "- **429s**: the simulator's 429 answers (`byStatus['429']`): `rate_limit_exceeded`, or in the quota scenario `insufficient_quota`. **429s / success** divides by successful calls.",
    "- **Errors surfaced to callers**: calls that rejected, by the class of the error the caller got, with retryscope's outcome or the API's error code in parentheses.",
    '- **p50 / p95 / p99**: successful calls only, ms from the moment `create()` was called to its result, so time queued in the limiter, backoff and retries are included. Nearest-rank percentiles over every round.',
    '- **Attempts / quota-exhausted call** (quota scenario): 429 `insufficient_quota` answers ÷ calls that ended with `insufficient_quota`.',
    '- Counts (calls, 429s, errors) are totals over all rounds.',
    '',
    '## Machine',
    '',
    `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB RAM; ${machine.os}; Node ${machine.node}; openai ${machine.openai}; retryscope at commit ${machine.commit}.`,
    '',
    '## Results',
    '',
    renderTable(result, rows),
    '',
    '## Goals',
    '',
    ...checks.map((g) => `- ${g.met ? '✅' : '❌'} ${g.name}: ${g.detail}.`),
    '',
    '## Notes',
    '',
    ...notes(input, rows).map((n) => `- ${n}`),
    '',
  );
  if (input.chartPath) {
    out.push(
      '## The 3× storm over time',
      '',
      `![Successful calls per second in the 3× storm, per client](${input.chartPath})`,
      '',
      `Successful calls per second (500 ms bins, averaged over ${c.rounds} round${c.rounds === 1 ? '' : 's'}), from the moment the load started; the shaded band is the load window, the dashed line the limit. Lines that coincide are drawn as nested stripes, earlier clients wider.`,
      '',
    );
  }
  if (overhead) {
    out.push(
      '## CPU overhead',
      '',
      `${overhead.calls} sequential calls per client per round, ${overhead.rounds} rounds (order rotated), after ${overhead.warmup} warm-up calls each, to a loopback server that always answers 200 with OpenAI's headers. The server runs in a child process, so \`process.cpuUsage()\` (user + system) of the benchmark process is the client's CPU alone: SDK, HTTP stack, retryscope and telemetry. Clients: the plain SDK; \`instrument()\` with its defaults through the no-op global OpenTelemetry API; and \`instrument()\` with an OpenTelemetry SDK \`TracerProvider\` (BatchSpanProcessor into a counting exporter that drops the spans; ${overhead.spansExported} spans exported) and \`MeterProvider\`, both flushed inside that client's measured interval so their export work is charged to it; and the same with a tag and a daily spend budget (out of reach) on top, the opt-in parts of usage and cost (pricing each answer is on by default).`,
      '',
      renderOverhead(overhead),
      '',
    );
  }
  for (const suite of input.suites ?? []) out.push(suite.markdown.trimEnd(), '');
  out.push('<details><summary>Per arm-run detail</summary>', '', renderRuns(result), '', '</details>', '');
  return out.join('\n');
}

function renderRuns(result: BenchResult): string {
  const lines = [
    '| Round | Scenario | Position | Client | Calls | Successes (in window) | Goodput | Requests | 429s | Errors | Wall s |',
    '| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const perWindow = (windowMs: number) =>
    (limitPerSec(result.config) * windowMs) / 1000 + initialBucket(result.config);
  for (const r of result.runs) {
    lines.push(
      `| ${r.round} | ${r.scenario} | ${r.position + 1} | ${r.arm} | ${r.calls} | ${r.successes} (${r.successesInWindow}) | ${fixed(r.successesInWindow / perWindow(r.windowMs), 3)} | ${r.server.requests} | ${r.server.byStatus['429'] ?? 0} | ${r.calls - r.successes} | ${(r.wallMs / 1000).toFixed(1)} |`,
    );
  }
  return lines.join('\n');
}
