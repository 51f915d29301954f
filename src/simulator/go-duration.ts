/**
 * Go's `time.Duration` text, which OpenAI uses in `x-ratelimit-reset-*`
 * headers and in "Please try again in …" messages: `1s`, `6m0s`, `20ms`,
 * `1m30.5s`, `1h0m0s`.
 */

import { readGoDuration } from '../policy/go-duration.ts';

const NS_PER_MS = 1e6;
const NS_PER_S = 1e9;

/** Formats milliseconds the way Go's `Duration.String()` does. */
export function formatGoDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`Not a duration: ${ms}`);
  const ns = Math.round(ms * NS_PER_MS);
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${ns}ns`;
  if (ns < NS_PER_MS) return `${fraction(ns, 1e3)}µs`;
  if (ns < NS_PER_S) return `${fraction(ns, NS_PER_MS)}ms`;

  const wholeSeconds = Math.floor(ns / NS_PER_S);
  const seconds = `${fraction((wholeSeconds % 60) * NS_PER_S + (ns % NS_PER_S), NS_PER_S)}s`;
  const minutes = Math.floor(wholeSeconds / 60);
  if (minutes === 0) return seconds;
  const hours = Math.floor(minutes / 60);
  const withMinutes = `${minutes % 60}m${seconds}`;
  return hours === 0 ? withMinutes : `${hours}h${withMinutes}`;
}

/** `value / unit` with the remainder as trimmed decimals, without float noise. */
function fraction(value: number, unit: number): string {
  const whole = Math.floor(value / unit);
  const rest = value % unit;
  if (rest === 0) return String(whole);
  const digits = String(unit).length - 1;
  return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
}

/** Parses a Go duration (`1m30.5s`, `20ms`, `0`) to milliseconds; throws on anything else. */
export function parseGoDuration(text: string): number {
  const ms = readGoDuration(text);
  if (ms === undefined) throw new SyntaxError(`Not a Go duration: "${text}"`);
  return ms;
}
