/**
 * The live progress line. It is built to fit the terminal: the least useful
 * parts go first when the line is too wide, and the quota count, the point
 * of the last phase, is never dropped. When the failure list is cut to the
 * top classes, the line says how many were left out.
 */
import { failedTotal, type Tally } from './tally.ts';

export interface ProgressState {
  tally: Tally;
  elapsedSec: number;
  totalSec: number;
  phase: string;
  /** 1-based. */
  phaseIndex: number;
  phaseCount: number;
}

const plain = (text: string) => [...text].length;

function bar(fraction: number, width: number): string {
  const full = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `${'█'.repeat(full)}${'░'.repeat(width - full)}`;
}

/** Top failure classes, with a note of how many more there are. */
export function failureClasses(tally: Tally, top: number): string {
  const entries = Object.entries(tally.failedByClass).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = entries.slice(0, top).map(([name, n]) => `${name} ${n}`);
  const more = entries.length - shown.length;
  if (more > 0) shown.push(`+${more} more class${more === 1 ? '' : 'es'}`);
  return shown.join(', ');
}

/** One line, at most `columns` wide. */
export function progressLine(state: ProgressState, columns: number): string {
  const { tally } = state;
  const ok = tally.byOutcome.success ?? 0;
  const fallback = tally.byOutcome.fallback ?? 0;
  const failed = failedTotal(tally);
  const time = `${Math.min(state.totalSec, Math.floor(state.elapsedSec))}/${state.totalSec}s`;
  const render = (o: { barWidth: number; top: number; brief: boolean; drop: number; shortOk?: boolean }) => {
    const classes = failed > 0 && o.top > 0 ? ` (${failureClasses(tally, o.top)})` : '';
    // In display order; `rank` is the order they are dropped in (highest first) when space runs out.
    const segments: { text: string; rank: number }[] = [
      {
        text: o.barWidth > 0 ? `${bar(state.elapsedSec / state.totalSec, o.barWidth)} ${time}` : time,
        rank: 0,
      },
      {
        text: o.brief ? state.phase : `${state.phase} ${state.phaseIndex}/${state.phaseCount}`,
        rank: 4,
      },
      { text: o.brief ? `${tally.operations} ops` : `ops ${tally.operations}`, rank: 3 },
      {
        text: o.shortOk ? `ok ${ok}` : `ok ${ok} (${tally.successAfterRetries} after retries)`,
        rank: 2,
      },
      { text: `fallback ${fallback}`, rank: 5 },
      { text: `failed ${failed}${classes}`, rank: 1 },
      { text: `quota ${tally.quotaEvents}`, rank: 0 },
    ];
    return ` ${segments
      .filter((s) => s.rank === 0 || s.rank < 6 - o.drop)
      .map((s) => s.text)
      .join(' | ')}`;
  };
  // The richest rendering first, then less detail until it fits.
  const attempts = [
    ...[3, 2, 1].map((top) => ({ barWidth: 20, top, brief: false, drop: 0 })),
    ...[1, 0].map((top) => ({ barWidth: 10, top, brief: false, drop: 0 })),
    { barWidth: 0, top: 0, brief: false, drop: 0 },
    ...[0, 1, 2, 3].map((drop) => ({ barWidth: 0, top: 0, brief: true, drop })),
    { barWidth: 0, top: 0, brief: true, drop: 3, shortOk: true },
    { barWidth: 0, top: 0, brief: true, drop: 4 },
    { barWidth: 0, top: 0, brief: true, drop: 5 },
  ];
  for (const attempt of attempts) {
    const line = render(attempt);
    if (plain(line) <= columns) return line;
  }
  return render({ barWidth: 0, top: 0, brief: true, drop: 5 }).slice(0, Math.max(0, columns));
}

/** Draws the line on a TTY in place; elsewhere prints it every few seconds and at each phase change. */
export class ProgressRenderer {
  readonly #stream: NodeJS.WriteStream;
  #lastPrinted = Number.NEGATIVE_INFINITY;
  #lastPhase = '';
  #drawn = false;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
  }

  #columns(): number {
    return this.#stream.columns || process.stdout.columns || 80;
  }

  update(state: ProgressState): void {
    // One column spare: writing the last column of a line makes some terminals wrap.
    const line = progressLine(state, this.#columns() - 1);
    if (this.#stream.isTTY) {
      this.#stream.write(`\r${line}\x1b[K`);
      this.#drawn = true;
      return;
    }
    const now = Date.now();
    if (state.phase !== this.#lastPhase || now - this.#lastPrinted >= 5_000) {
      this.#lastPhase = state.phase;
      this.#lastPrinted = now;
      this.#stream.write(`${line}\n`);
    }
  }

  stop(): void {
    if (this.#drawn) this.#stream.write('\n');
    this.#drawn = false;
  }
}
