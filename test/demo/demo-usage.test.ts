/** The demo's "Usage and cost" section from a real run against the simulator. */
import { describe, expect, test } from 'vitest';
import { formatReport } from '../../src/demo/format.ts';
import { runDemo } from '../../src/demo/run.ts';

describe('the demo run reports usage', () => {
  test('its calls carry a feature tag; the section shows tokens of every type and a non-zero cost by model and feature', async () => {
    const report = await runDemo({
      durationSec: 4,
      scenario: 'mixed',
      seed: 5,
      concurrency: 6,
      compareStorm: false,
    });
    const { usage } = report;
    expect(usage.calls).toBeGreaterThan(0);
    expect(usage.tokens.input).toBeGreaterThan(0);
    expect(usage.tokens.output).toBeGreaterThan(0);
    // Every feature the workload tags its calls with, and nothing else (seed 5's fault-free steady
    // phase has calls of every feature, so each reports usage).
    expect(Object.keys(usage.byTag)).toEqual(['feature']);
    expect(Object.keys(usage.byTag.feature!).sort()).toEqual([
      'assistant',
      'indexing',
      'search',
      'summaries',
    ]);
    // Priced: every model the demo calls is in the built-in table.
    expect(usage.priced).toBe(usage.calls);
    expect(usage.costUsd).toBeGreaterThan(0);
    for (const model of ['gpt-4o-mini', 'gpt-4o', 'o4-mini'])
      expect(usage.byModel[model]?.usd, model).toBeGreaterThan(0);
    for (const feature of ['assistant', 'summaries', 'search'])
      expect(usage.byTag.feature![feature], feature).toBeGreaterThan(0);
    const byModel = Object.values(usage.byModel).reduce((sum, m) => sum + m.usd, 0);
    expect(byModel).toBeCloseTo(usage.costUsd, 12);
    // Every token type has data: the simulator caches part of each prompt, and o4-mini reasons.
    expect(usage.tokens.cacheRead).toBeGreaterThan(0);
    expect(usage.tokens.cacheRead).toBeLessThan(usage.tokens.input);
    expect(usage.tokens.reasoning).toBeGreaterThan(0);
    expect(usage.tokens.reasoning).toBeLessThan(usage.tokens.output);
    const text = formatReport(report);
    expect(text).toMatch(/\nUsage and cost: \$[\d.]+ for \d+ calls? that reported usage/);
    expect(text).toMatch(/\n {2}input tokens +[1-9]\d*\n/);
    expect(text).toMatch(/\n {4}of which cached input +[1-9]\d* +\d+\.\d% cache hits\n/);
    expect(text).toMatch(/\n {4}of which reasoning +[1-9]\d*\n/);
    expect(text).toMatch(/\n {2}cost by model .*\n {4}\S+ \(\d+ attempts?\) +\$0\.0*[1-9]/);
    expect(text).toMatch(/\n {2}cost by feature:\n/);
    expect(text).toContain('\n  what retries and fallbacks cost:\n');
  });
});
