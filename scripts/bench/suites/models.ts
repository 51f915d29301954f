/**
 * Two models on one key, each with its own limit (OpenAI scopes limits per
 * model), a crowd of callers on each, all through one client: does each
 * model get its own limit, or does the slower one set the pace for both?
 */
import { fixed } from '../report.ts';
import { crowdSuite } from './crowd-suite.ts';

const GOAL = { goodput: 0.95, per429: 0.05 };

export const modelsSuite = crowdSuite({
  id: 'models',
  title: 'Two models on one key',
  models: [
    { model: 'gpt-4o-mini', rpm: 1500, callers: 25 },
    { model: 'gpt-4o', rpm: 300, callers: 25 },
  ],
  burstMs: 1000,
  rounds: { quick: 1, full: 2 },
  windowMs: { quick: 3000, full: 8000 },
  // Longer than the slow model's queue (25 callers at 5 requests/s is 5 s), so no call is refused for it.
  deadlineMs: 10_000,
  intro: () =>
    "Does each model get its own limit when one key serves two, one limited to five times the other? OpenAI's limits are per model, and its headers describe the model asked; a limiter per key paces both at the slower one's rate.",
  goals(rows) {
    const mine = rows.filter((row) => row.arm === 'rs-default');
    if (mine.length === 0) return [];
    const byRound = (g: number[]) =>
      g.length > 1 ? ` (rounds: ${g.map((v) => fixed(v, 3)).join(', ')})` : '';
    return [
      {
        name: `Two models on one key, retryscope defaults: each model ≥ ${GOAL.goodput} of its own limit`,
        met: mine.every((row) => row.goodput >= GOAL.goodput),
        detail: `measured over the whole window ${mine.map((row) => `\`${row.model}\` (${row.rpm} RPM) ${fixed(row.goodput, 3)}${byRound(row.goodputByRound)}`).join(', ')}; from 2 s on ${mine.map((row) => `\`${row.model}\` ${fixed(row.settledGoodput, 3)}`).join(', ')}`,
      },
      {
        name: `Two models on one key, retryscope defaults: ≤ ${GOAL.per429} 429s per success on each model`,
        met: mine.every((row) => row.per429Success <= GOAL.per429),
        detail: `measured ${mine.map((row) => `\`${row.model}\` ${fixed(row.per429Success, 3)} (${row.rejected429} 429s, ${row.successes} successes)`).join(', ')}`,
      },
    ];
  },
});
