/**
 * Go's `time.Duration` text, which OpenAI sends in `x-ratelimit-reset-*` and
 * "Please try again in …" messages (`1s`, `6m0s`, `20ms`, `1m30.5s`, `1h2m`).
 *
 * One grammar, two contracts: `readGoDuration` is strict and total (exactly
 * Go's syntax, `undefined` for anything else); `resetHeaderMs` is what the
 * header parser wants on top of it: padding forgiven, and anything absurd
 * (longer than a day) treated as garbage, so a bad header can never make a
 * caller wait forever or throw. The simulator's public, throwing
 * `parseGoDuration` wraps the strict one; the names differ so the two
 * contracts cannot be mistaken for each other.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign
  μs: 1e-3, // U+03BC Greek mu: Go accepts both
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Milliseconds of a Go duration (`0` included), or `undefined` if `text` is not one. */
export function readGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (text === '') return undefined;
  let total = 0;
  let index = 0;
  while (index < text.length) {
    PART.lastIndex = index;
    const match = PART.exec(text);
    if (!match) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    index = PART.lastIndex;
  }
  return Number.isFinite(total) ? total : undefined;
}

// A reset further away than a day is not a rate-limit window; treat as garbage.
const MAX_DURATION_MS = 86_400_000;

/** A header's duration in milliseconds: trimmed, at most a day, else `undefined`. */
export function resetHeaderMs(value: string | null | undefined): number | undefined {
  if (value == null) return undefined;
  const text = value.trim();
  if (text.length > 64) return undefined;
  const ms = readGoDuration(text);
  return ms !== undefined && ms <= MAX_DURATION_MS ? ms : undefined;
}
