/** The report's "Usage and cost" section, folded from spans that carry the usage-and-cost contract's names. */
import { describe, expect, test } from 'vitest';
import { formatReport, formatUsd, usageSection } from '../../src/demo/format.ts';
import { buildReport } from '../../src/demo/report.ts';
import { isAttempt, isOperation } from '../../src/demo/tally.ts';
import { usageReport } from '../../src/demo/usage.ts';
import * as A from '../../src/telemetry/attributes.ts';
import { record } from './support/spans.ts';

const usage = (input: number, cached: number, output: number, reasoning: number, usd?: number) => ({
  [A.ATTR_GEN_AI_USAGE_INPUT_TOKENS]: input,
  [A.ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]: cached,
  [A.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: output,
  [A.ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS]: reasoning,
  ...(usd !== undefined ? { [A.ATTR_COST_USD]: usd } : {}),
});
const attempt = (n: number, outcome: string, model: string, extra: Record<string, number | string> = {}) => ({
  [A.ATTR_ATTEMPT]: n,
  [A.ATTR_ATTEMPT_OUTCOME]: outcome,
  [A.ATTR_GEN_AI_REQUEST_MODEL]: model,
  ...extra,
});

const op = (outcome: string, attempts: number, feature: string, extra: Record<string, number | string>) => ({
  [A.ATTR_OUTCOME]: outcome,
  [A.ATTR_ATTEMPTS]: attempts,
  'retryscope.tag.feature': feature,
  ...extra,
});

/** A run: a plain success, a success after a stream cut mid-way (its tokens billed), a fallback, an unpriced embedding. */
const spans = () =>
  record([
    {
      attrs: op('success', 1, 'assistant', usage(100, 40, 20, 0, 0.003)),
      endMs: 10,
      attempts: [[attempt(1, 'success', 'gpt-4o-mini', usage(100, 40, 20, 0, 0.003)), 0, 10]],
    },
    {
      attrs: op('success', 2, 'assistant', usage(200, 0, 30, 10, 0.005)),
      endMs: 30,
      attempts: [
        [attempt(1, 'retried', 'gpt-4o-mini', usage(100, 0, 10, 0, 0.002)), 0, 10],
        [attempt(2, 'success', 'gpt-4o-mini', usage(100, 0, 20, 10, 0.003)), 15, 30],
      ],
    },
    {
      attrs: op('fallback', 2, 'summaries', { [A.ATTR_FALLBACK_INDEX]: 1, ...usage(50, 0, 10, 0, 0.01) }),
      endMs: 40,
      attempts: [
        // A 503: no usage, nothing spent.
        [attempt(1, 'failed', 'gpt-4o', { [A.ATTR_HTTP_RESPONSE_STATUS_CODE]: 503 }), 0, 10],
        [
          attempt(1, 'success', 'gpt-4o-mini', { [A.ATTR_FALLBACK_INDEX]: 1, ...usage(50, 0, 10, 0, 0.01) }),
          15,
          40,
        ],
      ],
    },
    {
      attrs: op('success', 1, 'indexing', {
        [A.ATTR_GEN_AI_USAGE_INPUT_TOKENS]: 8,
        [A.ATTR_COST_UNPRICED]: 'unknown_model',
      }),
      endMs: 5,
      attempts: [[attempt(1, 'success', 'my-embedder', { [A.ATTR_GEN_AI_USAGE_INPUT_TOKENS]: 8 }), 0, 5]],
    },
    // Refused before sending: no usage, no cost, not counted as a call with usage.
    { attrs: { [A.ATTR_OUTCOME]: 'invalid_request', [A.ATTR_ATTEMPTS]: 0 }, endMs: 1, attempts: [] },
  ]);

const meta = {
  scenario: 'mixed',
  seed: 1,
  durationSec: 5,
  elapsedSec: 5,
  partial: false,
  policy: { maxAttempts: 4, deadlineMs: 12_000 },
  phases: [],
};

describe('usage and cost in the demo report', () => {
  test('tokens by type and the bill come from operation spans; cost by model and wasted spend from attempts', () => {
    const all = spans();
    const u = usageReport(all.filter(isOperation), all.filter(isAttempt));
    expect(u.calls).toBe(4);
    expect(u.priced).toBe(3);
    expect(u.tokens).toEqual({ input: 358, cacheRead: 40, output: 60, reasoning: 10 });
    expect(u.cacheHitShare).toBeCloseTo(40 / 358);
    expect(u.costUsd).toBeCloseTo(0.018);
    expect(Object.keys(u.byModel).sort()).toEqual(['gpt-4o-mini']);
    expect(u.byModel['gpt-4o-mini']!.usd).toBeCloseTo(0.018);
    expect(u.byModel['gpt-4o-mini']!.attempts).toBe(4);
    expect(u.byTag.feature!.assistant).toBeCloseTo(0.008);
    expect(u.byTag.feature!.summaries).toBeCloseTo(0.01);
    expect(u.byTag.feature!.indexing).toBe(0);
    expect(u.unpriced).toEqual({ unknown_model: 1 });
    // The retried attempt reported usage and cost; the 503 did not.
    expect(u.wasted).toEqual({ attempts: 2, withUsage: 1, usd: 0.002 });
    expect(u.fallback).toEqual({ calls: 1, usd: 0.01 });
  });

  test('the printed section: tokens by type with the cache-hit share, cost by model and tag, retries and fallbacks', () => {
    const text = formatReport(buildReport(spans(), [], meta));
    const start = text.indexOf('Usage and cost:');
    expect(start).toBeGreaterThan(-1);
    const section = text.slice(start, text.indexOf('\n\n', start));
    expect(section.split('\n')).toEqual([
      'Usage and cost: $0.0180 for 4 calls that reported usage (3 priced)',
      expect.stringMatching(/^ {2}input tokens +358$/),
      expect.stringMatching(/^ {4}of which cached input +40 {2}11\.2% cache hits$/),
      expect.stringMatching(/^ {2}output tokens +60$/),
      expect.stringMatching(/^ {4}of which reasoning +10$/),
      '  cost by model (each attempt by the model it asked for):',
      expect.stringMatching(/^ {4}gpt-4o-mini \(4 attempts\) +\$0\.0180 +100\.0%$/),
      '  cost by feature:',
      expect.stringMatching(/^ {4}summaries +\$0\.0100 +55\.6%$/),
      expect.stringMatching(/^ {4}assistant +\$0\.00800 +44\.4%$/),
      expect.stringMatching(/^ {4}indexing +\$0 {2}/),
      '  what retries and fallbacks cost:',
      expect.stringMatching(/^ {4}2 attempts retried or failed +\$0\.00200 +11\.1%$/),
      expect.stringMatching(/^ {4}1 call served by a fallback +\$0\.0100 +55\.6%$/),
      '  not priced: 1 call (unknown_model)',
    ]);
    for (const line of section.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });

  test('a run with no usage, or usage but no price, says so instead of printing zeros', () => {
    expect(usageSection(usageReport([], []))).toEqual(['Usage and cost: no call reported usage']);
    const unpriced = record([
      {
        attrs: { [A.ATTR_OUTCOME]: 'success', [A.ATTR_ATTEMPTS]: 1, ...usage(10, 0, 5, 0) },
        endMs: 1,
        attempts: [[attempt(1, 'success', 'gpt-4o-mini', usage(10, 0, 5, 0)), 0, 1]],
      },
    ]);
    const lines = usageSection(usageReport(unpriced.filter(isOperation), unpriced.filter(isAttempt)));
    expect(lines[0]).toBe('Usage and cost: $0 for 1 call that reported usage (0 priced)');
    expect(lines.at(-1)).toBe('  no call was priced (no retryscope.cost.usd on any span)');
    expect(lines.some((l) => l.includes('cost by'))).toBe(false);
  });

  test('dollars keep three significant digits, however small', () => {
    expect(formatUsd(0)).toBe('$0');
    expect(formatUsd(12.345)).toBe('$12.35');
    expect(formatUsd(0.0123)).toBe('$0.0123');
    expect(formatUsd(0.0000015)).toBe('$0.00000150');
  });
});
