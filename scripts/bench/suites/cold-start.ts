/**
 * Cold start: a crowd starts at once against a small bucket, before any
 * header has told the client the limit. Without a hold the first wave
 * leaves together and most of it is refused (and, rejections counting,
 * leaves the bucket in debt).
 */
import { fixed } from '../report.ts';
import { crowdSuite } from './crowd-suite.ts';

const GOAL_PER_429 = 0.02;

export const coldStartSuite = crowdSuite({
  id: 'cold-start',
  title: 'Cold start: 40 callers against a 5-request bucket',
  // 600 RPM in a 500 ms bucket: 5 requests at once, 10 a second, so 40 callers queue for 4 s.
  models: [{ model: 'gpt-4o-mini', rpm: 600, callers: 40 }],
  burstMs: 500,
  rounds: { quick: 1, full: 2 },
  windowMs: { quick: 3000, full: 6000 },
  deadlineMs: 10_000,
  intro: () =>
    '40 callers start together on a fresh client against a bucket that holds 5 requests: the first wave leaves before any `x-ratelimit-*` header is known.',
  goals(rows) {
    const mine = rows.find((row) => row.arm === 'rs-default');
    if (!mine) return [];
    return [
      {
        name: `Cold start, 40 callers against a 5-request bucket, retryscope defaults: ≤ ${GOAL_PER_429} 429s per success`,
        met: mine.per429Success <= GOAL_PER_429,
        detail: `measured ${fixed(mine.per429Success, 3)} (${mine.rejected429} 429s, ${mine.successes} successes; goodput ${fixed(mine.goodput, 3)} × limit)`,
      },
    ];
  },
});
