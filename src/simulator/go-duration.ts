/**
 * Go's `time.Duration` text, which OpenAI uses in `x-ratelimit-reset-*`
 * headers and in "Please try again in …" messages: `1s`, `6m0s`, `20ms`,
 * `1m30.5s`, `1h0m0s`.
 */

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

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration (`1m30.5s`, `20ms`, `0`) to milliseconds; throws on anything else. */
export function parseGoDuration(text: string): number {
  if (text === '0') return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let index = 0;
  while (index < text.length) {
    part.lastIndex = index;
    const match = part.exec(text);
    if (!match) throw new SyntaxError(`Not a Go duration: "${text}"`);
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    index = part.lastIndex;
  }
  if (index === 0) throw new SyntaxError(`Not a Go duration: "${text}"`);
  return total;
}
