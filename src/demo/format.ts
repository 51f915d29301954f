import type { ArmSummary, DemoReport, StormComparison, TraceView } from './report.ts';
import type { UsageReport } from './usage.ts';

/** Columns of a waterfall's time axis: leaves room for the attempt's label in an 80-column terminal. */
const WIDTH = 32;
/** The report's prose and tables fit a classic terminal. */
const COLUMNS = 80;

/** Breaks prose at spaces so no line is wider than COLUMNS; continuation lines get `indent`. */
export function wrap(text: string, indent = ''): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > COLUMNS) {
      lines.push(line);
      line = indent + word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** The report as text for a terminal. */
export function formatReport(report: DemoReport): string {
  const out: string[] = [];
  const title = report.partial
    ? 'retryscope demo — partial report (interrupted)'
    : 'retryscope demo — report';
  out.push(
    '',
    title,
    `scenario ${report.scenario}, seed ${report.seed}, ${report.durationSec}s planned, ` +
      `finished in ${report.elapsedSec}s`,
    `policy: up to ${report.policy.maxAttempts} attempts per call, ${formatMs(report.policy.deadlineMs)} deadline`,
    '',
  );

  out.push(`Operations: ${report.operations.total}`);
  for (const [outcome, n] of sorted(report.operations.byOutcome)) {
    out.push(row(outcome, n, report.operations.total));
    // Right under the outcome it is part of, whatever order the outcomes sort in.
    if (outcome === 'success') {
      out.push(
        row('  of which after retries', report.operations.successAfterRetries, report.operations.total),
      );
    }
  }

  if (report.phases.length > 1) out.push('', ...phaseTable(report));
  if (report.storm) out.push('', ...stormSection(report.storm));

  out.push('', `Attempts: ${report.attempts.total} (by error class and status)`);
  for (const [key, n] of sorted(report.attempts.byErrorTypeAndStatus))
    out.push(row(key, n, report.attempts.total));

  out.push('', `Retries: ${report.retries.total}, total backoff ${formatMs(report.retries.backoffMsTotal)}`);
  for (const [source, { count, totalMs }] of Object.entries(report.retries.bySource).sort(
    (a, b) => b[1].count - a[1].count,
  )) {
    out.push(`  ${source.padEnd(34)} ${String(count).padStart(6)}  ${formatMs(totalMs).padStart(9)}`);
  }

  out.push('', ...usageSection(report.usage));

  out.push('', `Quota-exhaustion events: ${report.quotaExhaustedEvents}`);
  const { p50, p95, p99 } = report.latencyMs;
  out.push(`Latency per operation: p50 ${formatMs(p50)}  p95 ${formatMs(p95)}  p99 ${formatMs(p99)}`);
  out.push(
    ...wrap(
      `Metrics pipeline agrees: operations ${report.metrics.operations}, attempts ${report.metrics.attempts}, quota events ${report.metrics.quotaExhausted}`,
      '  ',
    ),
  );

  if (report.traces.length > 0) {
    out.push(
      '',
      ...wrap(
        "Telling traces (█ attempt ok, ▓ attempt failed, · backoff wait, ░ queued in the client's limiter):",
      ),
    );
    for (const trace of report.traces) out.push(...waterfall(trace), '');
  }
  return out.join('\n');
}

/** Per phase: the planned calls, what became of them, and how long the phase took here. */
function phaseTable(report: DemoReport): string[] {
  const lines = [
    ...wrap('Phases (calls planned from the seed and duration; each phase ends when its last call does):'),
    `  ${'phase'.padEnd(8)} ${'calls'.padStart(5)} ${'success'.padStart(7)} ${'retried'.padStart(7)} ${'fallback'.padStart(8)} ${'failed'.padStart(6)} ${'attempts'.padStart(8)} ${'429s'.padStart(5)} ${'quota'.padStart(5)} ${'took'.padStart(7)}`,
  ];
  for (const p of report.phases) {
    const success = p.byOutcome.success ?? 0;
    const fallback = p.byOutcome.fallback ?? 0;
    const failed = p.operations - success - fallback;
    lines.push(
      `  ${p.name.padEnd(8)} ${String(p.plannedCalls).padStart(5)} ${String(success).padStart(7)} ${String(p.successAfterRetries).padStart(7)} ${String(fallback).padStart(8)} ${String(failed).padStart(6)} ${String(p.attempts).padStart(8)} ${String(p.rateLimited).padStart(5)} ${String(p.quotaExhaustedEvents).padStart(5)} ${formatMs(p.elapsedMs).padStart(7)}`,
    );
  }
  return lines;
}

/** The storm's calls with and without the client's limiter, side by side. */
function stormSection(storm: StormComparison): string[] {
  const w = storm.withLimiter;
  const wo = storm.withoutLimiter;
  const failed = (a: ArmSummary) => a.operations - (a.byOutcome.success ?? 0) - (a.byOutcome.fallback ?? 0);
  const line = (label: string, a: ArmSummary) =>
    `  ${label.padEnd(16)} ${String(a.requests).padStart(8)} ${String(a.rateLimited).padStart(5)} ${String(a.retryAfterWaits).padStart(11)} ${String(a.queuedCalls).padStart(6)} ${String(a.byOutcome.success ?? 0).padStart(7)} ${String(failed(a)).padStart(6)} ${formatMs(a.latencyMs.p95).padStart(7)}`;
  const lines = [
    ...wrap(
      `The ${storm.phase} phase, measured both ways: its ${storm.calls} planned calls, each run against its own simulator:`,
    ),
    `  ${''.padEnd(16)} ${'requests'.padStart(8)} ${'429s'.padStart(5)} ${'Retry-After'.padStart(11)} ${'queued'.padStart(6)} ${'success'.padStart(7)} ${'failed'.padStart(6)} ${'p95'.padStart(7)}`,
    line('with the limiter', w),
    line('limiter: false', wo),
    ...wrap(
      `  Without the limiter this phase sent ${wo.requests} requests and got ${wo.rateLimited} 429s; ` +
        `with it, ${w.requests} and ${w.rateLimited}.`,
      '  ',
    ),
    ...wrap(
      `  Retry-After: ${wo.retryAfterWaits} waits of ${formatMs(wo.retryAfterWaitMs)} in all were the server's own hint, ` +
        `taken as given; the limiter held ${w.queuedCalls} calls for ${formatMs(w.queuedMs)} in all instead.`,
      '  ',
    ),
  ];
  if (storm.retryAfterTrace)
    lines.push('', '  A call without the limiter:', ...waterfall(storm.retryAfterTrace).map((l) => `  ${l}`));
  return lines;
}

/** Tokens by type, cost by model and tag, and the spend that retries and fallbacks caused. */
export function usageSection(usage: UsageReport): string[] {
  if (usage.calls === 0) return ['Usage and cost: no call reported usage'];
  const { tokens } = usage;
  const line = (label: string, value: string, extra = '') =>
    `  ${label.padEnd(40)} ${value.padStart(12)}${extra}`;
  const share = (usd: number) =>
    usage.costUsd > 0 ? `  ${((100 * usd) / usage.costUsd).toFixed(1).padStart(5)}%` : '';
  const lines = [
    `Usage and cost: ${formatUsd(usage.costUsd)} for ${plural(usage.calls, 'call')} that reported usage` +
      (usage.priced < usage.calls ? ` (${usage.priced} priced)` : ''),
    line('input tokens', String(tokens.input)),
    line(
      '  of which cached input',
      String(tokens.cacheRead),
      `  ${(100 * usage.cacheHitShare).toFixed(1)}% cache hits`,
    ),
    line('output tokens', String(tokens.output)),
    line('  of which reasoning', String(tokens.reasoning)),
  ];
  if (usage.priced === 0) return [...lines, '  no call was priced (no retryscope.cost.usd on any span)'];
  lines.push('  cost by model (each attempt by the model it asked for):');
  const byUsd = <T>(entries: [string, T][], usd: (v: T) => number) =>
    entries.sort((a, b) => usd(b[1]) - usd(a[1]));
  for (const [model, { usd, attempts }] of byUsd(Object.entries(usage.byModel), (v) => v.usd))
    lines.push(line(`  ${model} (${plural(attempts, 'attempt')})`, formatUsd(usd), share(usd)));
  for (const [key, values] of Object.entries(usage.byTag)) {
    lines.push(`  cost by ${key}:`);
    for (const [value, usd] of byUsd(Object.entries(values), (v) => v))
      lines.push(line(`  ${value}`, formatUsd(usd), share(usd)));
  }
  const { wasted, fallback } = usage;
  lines.push(
    '  what retries and fallbacks cost:',
    line(
      `  ${plural(wasted.attempts, 'attempt')} retried or failed`,
      formatUsd(wasted.usd),
      share(wasted.usd),
    ),
    line(
      `  ${plural(fallback.calls, 'call')} served by a fallback`,
      formatUsd(fallback.usd),
      share(fallback.usd),
    ),
  );
  const unpriced = Object.entries(usage.unpriced);
  if (unpriced.length > 0)
    lines.push(`  not priced: ${unpriced.map(([why, n]) => `${plural(n, 'call')} (${why})`).join(', ')}`);
  return lines;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Dollars to three significant digits: demo calls cost fractions of a cent. */
export function formatUsd(usd: number): string {
  if (usd <= 0) return '$0';
  const decimals = Math.min(10, Math.max(2, 2 - Math.floor(Math.log10(usd))));
  return `$${usd.toFixed(decimals)}`;
}

/** One trace as bars on a shared time axis: attempts as bars, backoff gaps as dots, errors labelled. */
export function waterfall(trace: TraceView): string[] {
  const total = Math.max(trace.durationMs, 1);
  const col = (t: number) => Math.min(WIDTH - 1, Math.max(0, Math.round((t / total) * (WIDTH - 1))));
  const lines = [`${trace.name} → ${trace.outcome} in ${formatMs(trace.durationMs)}  trace ${trace.traceId}`];
  let previousEnd = 0;
  for (const [i, a] of trace.attempts.entries()) {
    const cells = Array<string>(WIDTH).fill(' ');
    // Before the first attempt the call can only have been queued; between attempts it is the retry's wait.
    for (let c = col(previousEnd); c < col(a.startMs); c++) cells[c] = i === 0 ? '░' : '·';
    const mark = a.errorType ? '▓' : '█';
    for (let c = col(a.startMs); c <= Math.max(col(a.startMs), col(a.endMs)); c++) cells[c] = mark;
    previousEnd = a.endMs;
    const hop = a.fallbackIndex > 0 ? ` [fallback ${a.fallbackIndex}: ${a.model}]` : '';
    const label = a.errorType
      ? `${a.status ?? '---'} ${a.errorType}${a.code ? ` (${a.code})` : ''}`
      : `${a.status ?? '---'} ok`;
    const wait = a.backoffMs > 0 ? ` after ${formatMs(a.backoffMs)} ${a.backoffSource}` : '';
    lines.push(`  #${a.attempt} |${cells.join('')}| ${label}${wait}${hop}`);
  }
  if (trace.attempts.length === 0) lines.push('  (no attempt: refused before sending)');
  return lines;
}

function row(label: string, n: number, total: number): string {
  const pct = total > 0 ? ((100 * n) / total).toFixed(1) : '0.0';
  return `  ${label.padEnd(34)} ${String(n).padStart(6)}  ${pct.padStart(5)}%`;
}

function sorted(record: Record<string, number>): [string, number][] {
  return Object.entries(record).sort((a, b) => b[1] - a[1]);
}

export function formatMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms)}ms`;
}
