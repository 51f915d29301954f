/**
 * A hand-written SVG line chart: successes per second over time, one
 * polyline per arm (averaged over rounds), the limit as a dashed line, the
 * end of the load window marked. No dependency.
 */
import { ARM_IDS } from './arms.ts';
import { limitPerSec } from './config.ts';
import type { BenchResult } from './harness.ts';
import { bin } from './stats.ts';

const COLORS = ['#d62728', '#ff7f0e', '#1f77b4', '#2ca02c', '#9467bd', '#8c564b'];
const WIDTH = 880;
const HEIGHT = 440;
const MARGIN = { top: 48, right: 24, bottom: 56, left: 64 };

export interface Series {
  label: string;
  color: string;
  /** Successes per second, one value per bin. */
  values: number[];
}

export interface ChartInput {
  title: string;
  series: Series[];
  binMs: number;
  limitPerSec: number;
  windowMs: number;
}

/** The storm chart's data: per arm, successes per second in `binMs` bins, averaged over the arm's runs. */
export function successSeries(result: BenchResult, scenario: string, binMs = 500): ChartInput {
  const runs = result.runs.filter((r) => r.scenario === scenario);
  const lastMs = Math.max(result.config.windowMs, ...runs.flatMap((r) => r.successTimesMs));
  const bins = Math.max(1, Math.ceil(lastMs / binMs));
  const series: Series[] = [];
  for (const arm of result.arms) {
    const mine = runs.filter((r) => r.arm === arm.id);
    if (mine.length === 0) continue;
    const totals = new Array<number>(bins).fill(0);
    for (const run of mine) {
      bin(run.successTimesMs, binMs, bins).forEach((n, i) => {
        totals[i]! += n;
      });
    }
    const index = Math.max(0, ARM_IDS.indexOf(arm.id));
    series.push({
      label: arm.label,
      color: COLORS[index % COLORS.length]!,
      values: totals.map((n) => (n / mine.length) * (1000 / binMs)),
    });
  }
  const title = result.scenarios.find((s) => s.id === scenario)?.title ?? scenario;
  return { title, series, binMs, limitPerSec: limitPerSec(result.config), windowMs: result.config.windowMs };
}

function niceStep(range: number, target: number): number {
  const raw = range / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function renderChart(input: ChartInput, subtitle = ''): string {
  const bins = Math.max(1, ...input.series.map((s) => s.values.length));
  const xMaxS = (bins * input.binMs) / 1000;
  const yMaxRaw = Math.max(input.limitPerSec * 1.25, ...input.series.flatMap((s) => s.values));
  const yStep = niceStep(yMaxRaw, 6);
  const yMax = Math.ceil(yMaxRaw / yStep) * yStep;
  const xStep = niceStep(xMaxS, 10);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (s: number) => MARGIN.left + (s / xMaxS) * plotW;
  const y = (v: number) => MARGIN.top + plotH - (v / yMax) * plotH;
  const f = (n: number) => n.toFixed(1);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12" role="img" aria-labelledby="chart-title">`,
    `<title id="chart-title">${escapeXml(`Successful calls per second over time: ${input.title}, per client, with the limit of ${input.limitPerSec} requests per second`)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="15" font-weight="600">${escapeXml(`Successes per second: ${input.title}`)}</text>`,
  );
  if (subtitle)
    out.push(`<text x="${WIDTH / 2}" y="37" text-anchor="middle" fill="#555">${escapeXml(subtitle)}</text>`);
  // The load window.
  out.push(
    `<rect x="${f(x(0))}" y="${MARGIN.top}" width="${f(x(input.windowMs / 1000) - x(0))}" height="${plotH}" fill="#f2f2f2"/>`,
    `<text x="${f(x(input.windowMs / 1000) - 4)}" y="${MARGIN.top + 14}" text-anchor="end" fill="#777">load window</text>`,
  );
  // Grid and ticks.
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${f(y(v))}" y2="${f(y(v))}" stroke="#e0e0e0"/>`,
      `<text x="${MARGIN.left - 8}" y="${f(y(v) + 4)}" text-anchor="end">${v}</text>`,
    );
  }
  for (let s = 0; s <= xMaxS + 1e-9; s += xStep) {
    out.push(
      `<line x1="${f(x(s))}" x2="${f(x(s))}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH + 5}" stroke="#333"/>`,
      `<text x="${f(x(s))}" y="${MARGIN.top + plotH + 19}" text-anchor="middle">${Number(s.toFixed(3))}</text>`,
    );
  }
  out.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#333"/>`,
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 14}" text-anchor="middle">time since the load started (s)</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">successful calls per second (${input.binMs} ms bins)</text>`,
  );
  // The limit.
  out.push(
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${f(y(input.limitPerSec))}" y2="${f(y(input.limitPerSec))}" stroke="#000" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    `<text x="${WIDTH - MARGIN.right - 4}" y="${f(y(input.limitPerSec) - 6)}" text-anchor="end">limit ${input.limitPerSec} req/s</text>`,
  );
  // Earlier series are drawn wider, so lines that coincide show as nested stripes rather than hiding each other.
  const widths = input.series.map((_, i) => 2 + 2 * (input.series.length - 1 - i));
  input.series.forEach((series, i) => {
    const points = series.values
      .map((v, b) => `${f(x(((b + 0.5) * input.binMs) / 1000))},${f(y(v))}`)
      .join(' ');
    out.push(
      `<polyline fill="none" stroke="${series.color}" stroke-width="${widths[i]}" stroke-linejoin="round" points="${points}"/>`,
    );
  });
  // Legend.
  const legendX = MARGIN.left + plotW - 250;
  const legendY = MARGIN.top + 26;
  out.push(
    `<rect x="${legendX - 10}" y="${legendY - 14}" width="256" height="${input.series.length * 18 + 10}" fill="#ffffff" fill-opacity="0.9" stroke="#ccc"/>`,
  );
  input.series.forEach((series, i) => {
    const ly = legendY + i * 18;
    out.push(
      `<line x1="${legendX}" x2="${legendX + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${series.color}" stroke-width="3"/>`,
      `<text x="${legendX + 32}" y="${ly}">${escapeXml(series.label)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
