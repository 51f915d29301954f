/** The report and the progress line as a reader sees them, from real spans with set times. */
import { describe, expect, test } from 'vitest';
import { formatReport, waterfall, wrap } from '../../src/demo/format.ts';
import { failureClasses, progressLine } from '../../src/demo/progress.ts';
import { buildReport, type ReportMeta } from '../../src/demo/report.ts';
import { tallyOf } from '../../src/demo/tally.ts';
import * as A from '../../src/telemetry/attributes.ts';
import { record } from './support/spans.ts';

const op = (outcome: string, attempts: number, extra: Record<string, string | number> = {}) => ({
  [A.ATTR_OUTCOME]: outcome,
  [A.ATTR_ATTEMPTS]: attempts,
  ...extra,
});
const attempt = (n: number, extra: Record<string, string | number | boolean> = {}) => ({
  [A.ATTR_ATTEMPT]: n,
  [A.ATTR_BACKOFF_SOURCE]: n === 1 ? 'none' : 'exponential',
  [A.ATTR_BACKOFF_MS]: n === 1 ? 0 : 10,
  ...extra,
});

const meta = (phases: ReportMeta['phases'] = []): ReportMeta => ({
  scenario: 'mixed',
  seed: 1,
  durationSec: 5,
  elapsedSec: 5.4,
  partial: false,
  policy: { maxAttempts: 4, deadlineMs: 12_000 },
  phases,
});

describe('the report', () => {
  test('"of which after retries" sits under success, whichever outcome sorts last', () => {
    // More failures than successes: success sorts neither first nor last.
    const spans = record([
      ...Array.from({ length: 3 }, () => ({ attrs: op('quota_exhausted', 1), endMs: 5, attempts: [] })),
      { attrs: op('success', 3), endMs: 50, attempts: [] },
      { attrs: op('success', 1), endMs: 5, attempts: [] },
      { attrs: op('non_retryable', 1), endMs: 5, attempts: [] },
    ]);
    const report = buildReport(spans, [], meta());
    expect(report.operations.successAfterRetries).toBe(1);
    const lines = formatReport(report).split('\n');
    const success = lines.findIndex((l) => /^ {2}success /.test(l));
    expect(lines[success + 1]).toMatch(/^ {4}of which after retries\s+1\s/);
    expect(lines.filter((l) => l.includes('of which'))).toHaveLength(1);
  });

  test('says the planned duration, and what the run took', () => {
    const text = formatReport(buildReport([], [], meta()));
    expect(text).toContain('5s planned, finished in 5.4s\npolicy: up to 4 attempts per call, 12.0s deadline');
  });

  test('"after retries" has one definition: the progress tally and the report count the same', () => {
    const spans = record([
      { attrs: op('success', 2), endMs: 5, attempts: [] },
      // A fallback after retries is a fallback, in both.
      { attrs: op('fallback', 4), endMs: 5, attempts: [] },
      { attrs: op('success', 1), endMs: 5, attempts: [] },
    ]);
    const report = buildReport(spans, [], meta());
    const tally = tallyOf(spans);
    expect(tally.successAfterRetries).toBe(report.operations.successAfterRetries);
    expect(tally.successAfterRetries).toBe(1);
    expect(tally.byOutcome).toEqual(report.operations.byOutcome);
    expect(
      progressLine({ tally, elapsedSec: 1, totalSec: 5, phase: 'steady', phaseIndex: 1, phaseCount: 1 }, 200),
    ).toContain('ok 2 (1 after retries)');
  });

  test('the waterfall orders rows by time across fallback hops, not by attempt number', () => {
    const spans = record([
      {
        attrs: op('fallback', 3, { [A.ATTR_FALLBACK_INDEX]: 1 }),
        endMs: 400,
        attempts: [
          // Attempt numbers restart on the fallback hop; recorded out of order on purpose.
          [
            attempt(1, { [A.ATTR_FALLBACK_INDEX]: 1, [A.ATTR_GEN_AI_REQUEST_MODEL]: 'gpt-4o-mini' }),
            300,
            400,
          ],
          [
            attempt(2, {
              [A.ATTR_ERROR_TYPE]: 'InternalServerError',
              [A.ATTR_HTTP_RESPONSE_STATUS_CODE]: 503,
            }),
            150,
            250,
          ],
          [
            attempt(1, {
              [A.ATTR_ERROR_TYPE]: 'InternalServerError',
              [A.ATTR_HTTP_RESPONSE_STATUS_CODE]: 503,
            }),
            0,
            100,
          ],
        ],
      },
    ]);
    const [trace] = buildReport(spans, [], meta()).traces;
    expect(trace!.attempts.map((a) => [a.attempt, a.fallbackIndex, a.startMs])).toEqual([
      [1, 0, 0],
      [2, 0, 150],
      [1, 1, 300],
    ]);
    const rows = waterfall(trace!).slice(1);
    expect(rows[2]).toContain('[fallback 1: gpt-4o-mini]');
    // Each row starts at or after the one above it ends.
    const firstMark = (row: string) => row.indexOf('|') + 1 + row.split('|')[1]!.search(/[█▓]/);
    expect(firstMark(rows[0]!)).toBeLessThan(firstMark(rows[1]!));
    expect(firstMark(rows[1]!)).toBeLessThan(firstMark(rows[2]!));
  });

  test('per phase: the planned calls beside what the spans say became of them', () => {
    const spans = record([
      {
        attrs: op('success', 1),
        endMs: 5,
        attempts: [[attempt(1, { [A.ATTR_HTTP_RESPONSE_STATUS_CODE]: 200 }), 0, 5]],
      },
      {
        attrs: op('retries_exhausted', 2),
        endMs: 50,
        attempts: [
          [attempt(1, { [A.ATTR_HTTP_RESPONSE_STATUS_CODE]: 429 }), 0, 5],
          [
            attempt(2, {
              [A.ATTR_HTTP_RESPONSE_STATUS_CODE]: 429,
              [A.ATTR_BACKOFF_SOURCE]: 'retry-after-ms',
            }),
            30,
            50,
          ],
        ],
      },
    ]);
    const report = buildReport(spans, [], meta([{ name: 'storm', plannedCalls: 2, elapsedMs: 60, spans }]));
    expect(report.phases).toEqual([
      {
        name: 'storm',
        plannedCalls: 2,
        operations: 2,
        byOutcome: { success: 1, retries_exhausted: 1 },
        successAfterRetries: 0,
        attempts: 3,
        rateLimited: 2,
        quotaExhaustedEvents: 0,
        elapsedMs: 60,
      },
    ]);
  });

  test("the storm comparison counts requests, 429s and Retry-After waits from each arm's spans", () => {
    const unpaced = record([
      {
        attrs: op('success', 3),
        endMs: 100,
        attempts: [
          [
            attempt(1, { [A.ATTR_HTTP_RESPONSE_STATUS_CODE]: 429, [A.ATTR_ERROR_TYPE]: 'RateLimitError' }),
            0,
            5,
          ],
          [
            attempt(2, {
              [A.ATTR_HTTP_RESPONSE_STATUS_CODE]: 429,
              [A.ATTR_ERROR_TYPE]: 'RateLimitError',
              [A.ATTR_BACKOFF_SOURCE]: 'retry-after-ms',
              [A.ATTR_BACKOFF_MS]: 20,
            }),
            25,
            30,
          ],
          [
            attempt(3, {
              [A.ATTR_HTTP_RESPONSE_STATUS_CODE]: 200,
              [A.ATTR_BACKOFF_SOURCE]: 'retry-after-ms',
              [A.ATTR_BACKOFF_MS]: 20,
            }),
            50,
            100,
          ],
        ],
      },
    ]);
    const paced = record([
      {
        attrs: op('success', 1, { [A.ATTR_QUEUED_MS]: 40 }),
        endMs: 90,
        attempts: [[attempt(1, { [A.ATTR_HTTP_RESPONSE_STATUS_CODE]: 200 }), 40, 90]],
      },
    ]);
    const report = buildReport(paced, [], {
      ...meta(),
      storm: { phase: 'storm', calls: 1, main: paced, unpaced },
    });
    expect(report.storm!.withoutLimiter).toMatchObject({
      requests: 3,
      rateLimited: 2,
      retryAfterWaits: 2,
      retryAfterWaitMs: 40,
      successAfterRetries: 1,
    });
    expect(report.storm!.withLimiter).toMatchObject({
      requests: 1,
      rateLimited: 0,
      retryAfterWaits: 0,
      queuedCalls: 1,
      queuedMs: 40,
    });
    expect(report.storm!.retryAfterTrace?.attempts).toHaveLength(3);
    const text = formatReport(report);
    // Prose wraps at 80 columns: read it with the line breaks taken out.
    expect(text.replace(/\n +/g, ' ')).toContain(
      'Without the limiter this phase sent 3 requests and got 2 429s; with it, 1 and 0.',
    );
    expect(text).toMatch(/#3 \|.*\| 200 ok after 20ms retry-after-ms/);
  });

  test('prose and tables fit 80 columns; only a trace row with a long label may run past', () => {
    const spans = record([
      {
        attrs: op('success', 1),
        endMs: 5,
        attempts: [[attempt(1, { [A.ATTR_HTTP_RESPONSE_STATUS_CODE]: 200 }), 0, 5]],
      },
    ]);
    const text = formatReport(buildReport(spans, [], meta()));
    const wide = text.split('\n').filter((l) => [...l].length > 80 && !/^\s+#\d+ \|/.test(l));
    expect(wide).toEqual([]);
    expect(wrap('a '.repeat(100).trim(), '  ').every((l) => l.length <= 80)).toBe(true);
  });
});

describe('the progress line', () => {
  const tally = {
    operations: 18_340,
    byOutcome: {
      success: 15_000,
      fallback: 400,
      retries_exhausted: 1_000,
      quota_exhausted: 1_500,
      non_retryable: 440,
    },
    successAfterRetries: 1_480,
    failedByClass: {
      RateLimitError: 1_500,
      InternalServerError: 600,
      APIConnectionTimeoutError: 200,
      AuthenticationError: 440,
      InvalidRequestError: 200,
    },
    quotaEvents: 1_600,
  };
  const state = { tally, elapsedSec: 23.4, totalSec: 3600, phase: 'outage', phaseIndex: 3, phaseCount: 4 };

  test.each([40, 60, 79, 80, 100, 120, 200])(
    'fits %i columns and always shows the quota count',
    (columns) => {
      const line = progressLine(state, columns);
      expect([...line].length).toBeLessThanOrEqual(columns);
      expect(line).toContain('quota 1600');
    },
  );

  test('an 80-column line still says how many succeeded after retries and how many failed', () => {
    const line = progressLine(state, 79);
    expect(line).toContain('1480 after retries');
    expect(line).toContain('failed 2940');
  });

  test('a failure list cut to the top classes says how many it left out', () => {
    expect(failureClasses(tally, 3)).toBe(
      'RateLimitError 1500, InternalServerError 600, AuthenticationError 440, +2 more classes',
    );
    expect(failureClasses(tally, 5)).not.toContain('more');
    const wide = progressLine(state, 300);
    expect(wide).toContain('+2 more classes');
  });
});
