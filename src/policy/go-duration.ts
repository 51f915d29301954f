/**
 * Parses the Go-style durations OpenAI sends in `x-ratelimit-reset-*`
 * (`1s`, `6m0s`, `20ms`, `1m30.5s`, `1h2m`) into milliseconds.
 *
 * Total: returns `undefined` for anything it does not understand (empty,
 * negative, garbage, absurdly large) so a bad header can never make a caller
 * wait forever or throw.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

// A reset further away than a day is not a rate-limit window; treat as garbage.
const MAX_DURATION_MS = 86_400_000;

const PART = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

export function parseGoDuration(value: string | null | undefined): number | undefined {
  if (value == null) return undefined;
  const text = value.trim();
  if (text === '' || text.length > 64) return undefined;
  if (text === '0') return 0;
  PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  while (consumed < text.length) {
    PART.lastIndex = consumed;
    const match = PART.exec(text);
    if (!match) return undefined;
    total += Number(match[1]) * (UNIT_MS[match[2]!] ?? Number.NaN);
    consumed = PART.lastIndex;
  }
  if (!Number.isFinite(total) || total < 0 || total > MAX_DURATION_MS) return undefined;
  return total;
}
