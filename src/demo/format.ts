import type { DemoReport, TraceView } from './report.ts';

const WIDTH = 48;

/** The report as text for a terminal. */
export function formatReport(report: DemoReport): string {
  const out: string[] = [];
  const title = report.partial
    ? 'retryscope demo — partial report (interrupted)'
    : 'retryscope demo — report';
  out.push('', title, `scenario ${report.scenario}, seed ${report.seed}, ${report.durationSec}s`, '');

  out.push(`Operations: ${report.operations.total}`);
  for (const [outcome, n] of sorted(report.operations.byOutcome))
    out.push(row(outcome, n, report.operations.total));
  out.push(
    row('  of which success after retries', report.operations.successAfterRetries, report.operations.total),
  );

  out.push('', `Attempts: ${report.attempts.total} (by error class and status)`);
  for (const [key, n] of sorted(report.attempts.byErrorTypeAndStatus))
    out.push(row(key, n, report.attempts.total));

  out.push('', `Retries: ${report.retries.total}, total backoff ${formatMs(report.retries.backoffMsTotal)}`);
  for (const [source, { count, totalMs }] of Object.entries(report.retries.bySource).sort(
    (a, b) => b[1].count - a[1].count,
  )) {
    out.push(`  ${source.padEnd(34)} ${String(count).padStart(6)}  ${formatMs(totalMs).padStart(9)}`);
  }

  out.push('', `Quota-exhaustion events: ${report.quotaExhaustedEvents}`);
  const { p50, p95, p99 } = report.latencyMs;
  out.push(`Latency per operation: p50 ${formatMs(p50)}  p95 ${formatMs(p95)}  p99 ${formatMs(p99)}`);
  out.push(
    `Metrics pipeline agrees: operations ${report.metrics.operations}, attempts ${report.metrics.attempts}, quota events ${report.metrics.quotaExhausted}`,
  );

  if (report.traces.length > 0) {
    out.push(
      '',
      "Telling traces (█ attempt ok, ▓ attempt failed, · backoff wait, ░ queued in the client's limiter):",
    );
    for (const trace of report.traces) out.push(...waterfall(trace), '');
  }
  return out.join('\n');
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
