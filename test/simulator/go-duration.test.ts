import { describe, expect, it } from 'vitest';
import { formatGoDuration, parseGoDuration } from '../../src/simulator/go-duration.ts';

describe('formatGoDuration', () => {
  it.each([
    [0, '0s'],
    [20, '20ms'],
    [1.5, '1.5ms'],
    [0.25, '250µs'],
    [0.000_5, '500ns'],
    [999, '999ms'],
    [1000, '1s'],
    [1200, '1.2s'],
    [8640, '8.64s'],
    [60_000, '1m0s'],
    [90_500, '1m30.5s'],
    [360_000, '6m0s'],
    [3_600_000, '1h0m0s'],
    [3_723_004, '1h2m3.004s'],
  ])('%s ms → %s, as Go prints it', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });

  it('refuses negative and non-finite values', () => {
    expect(() => formatGoDuration(-1)).toThrow(RangeError);
    expect(() => formatGoDuration(Number.NaN)).toThrow(RangeError);
  });
});

describe('parseGoDuration', () => {
  it.each([
    ['0', 0],
    ['0s', 0],
    ['20ms', 20],
    ['1.2s', 1200],
    ['6m0s', 360_000],
    ['1m30.5s', 90_500],
    ['1h2m3.004s', 3_723_004],
    ['250µs', 0.25],
    ['250us', 0.25],
  ])('%s → %s ms', (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 9);
  });

  it.each(['', '5', '1x', 's', '1m 2s', '-1s'])('rejects %j', (text) => {
    expect(() => parseGoDuration(text)).toThrow(SyntaxError);
  });

  it('round-trips whole milliseconds', () => {
    for (const ms of [1, 17, 999, 1000, 1001, 59_999, 61_234, 7_200_000]) {
      expect(parseGoDuration(formatGoDuration(ms))).toBeCloseTo(ms, 6);
    }
  });
});
