/** The demo's "Usage and cost" section from a real run against the simulator. */
import { describe, expect, test } from 'vitest';
import { formatReport } from '../../src/demo/format.ts';
import { runDemo } from '../../src/demo/run.ts';

describe('the demo run reports usage', () => {
  test('its calls carry a feature tag, and the section counts their tokens', async () => {
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
    const text = formatReport(report);
    expect(text).toMatch(/\nUsage and cost: \$[\d.]+ for \d+ calls? that reported usage/);
    expect(text).toMatch(/\n {2}input tokens +[1-9]\d*\n/);
  });
});
