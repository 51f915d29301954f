/**
 * The one parser for every CLI flag and environment variable, so `demo` and
 * `simulate` accept the same values for the same flag and word the same
 * mistake the same way: `retryscope: <what is wrong> (<how to fix>)`.
 * Imports nothing heavy: `--help` loads this file.
 */
import { redactUrlsIn } from '../redact.ts';
import { parseGoDuration } from '../simulator/go-duration.ts';
import { isNamedScenario, NAMED_SCENARIOS } from '../simulator/scenarios.ts';
import type { NamedScenario } from '../simulator/types.ts';

/** Bad input the user can fix: exit code 2, as for any Unix usage error. */
export const EXIT_USAGE = 2;
/** The input was fine but the run failed (a port in use, a crash): exit code 1. */
export const EXIT_FAILURE = 1;

/** Input the user can fix. `message` says what is wrong, `fix` how to put it right. */
export class UsageError extends Error {
  readonly fix: string | undefined;
  constructor(message: string, fix?: string) {
    super(message);
    this.name = 'UsageError';
    this.fix = fix;
  }
}

/** The one line every error becomes. */
export function errorLine(message: string, fix?: string): string {
  return `retryscope: ${message}${fix ? ` (${fix})` : ''}\n`;
}

export function warningLine(message: string): string {
  return `retryscope: warning: ${message}\n`;
}

/** Writes one line for `error` and returns the exit code it deserves. */
export function reportError(error: unknown, fallbackFix?: string): number {
  if (error instanceof UsageError) {
    process.stderr.write(errorLine(error.message, error.fix));
    return EXIT_USAGE;
  }
  // An unexpected error may quote a URL the user passed, credentials and all.
  const message = redactUrlsIn(error instanceof Error ? error.message : String(error));
  process.stderr.write(errorLine(message, fallbackFix));
  return EXIT_FAILURE;
}

const quote = (text: string) => JSON.stringify(text);

export function integer(flag: string, text: string, min: number, max: number, example: number): number {
  const value = /^-?\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(
      `${flag} must be a whole number from ${min} to ${max}, got ${quote(text)}`,
      `e.g. ${flag} ${example}`,
    );
  }
  return value;
}

/** The PRNGs are 32-bit: larger seeds would silently repeat smaller ones. */
export const MAX_SEED = 2 ** 32 - 1;
export const seed = (text: string) => integer('--seed', text, 0, MAX_SEED, 42);
export const port = (text: string) => integer('--port', text, 0, 65_535, 8787);

export function positiveNumber(flag: string, text: string, example: number): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${flag} must be a positive number, got ${quote(text)}`, `e.g. ${flag} ${example}`);
  }
  return value;
}

export const MIN_DURATION_MS = 1_000;
export const MAX_DURATION_MS = 24 * 3_600_000;

/** Seconds as a bare number ("90"), or a Go duration ("90s", "1m30s"), from 1 s to 24 h. */
export function durationMs(text: string): number {
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text.trim())) ms = Number(text) * 1000;
  else {
    try {
      ms = parseGoDuration(text.trim());
    } catch {
      ms = Number.NaN;
    }
  }
  if (!Number.isFinite(ms) || ms < MIN_DURATION_MS || ms > MAX_DURATION_MS) {
    throw new UsageError(
      `--duration must be from 1 second to 24 hours, got ${quote(text)}`,
      'seconds or a duration, e.g. --duration 40, 90s or 2m',
    );
  }
  return ms;
}

export function scenario(text: string): NamedScenario {
  if (!isNamedScenario(text)) {
    throw new UsageError(
      `unknown scenario ${quote(text)}`,
      `choose one of ${Object.keys(NAMED_SCENARIOS).join(', ')}`,
    );
  }
  return text;
}

/** An http(s) URL; `source` is the flag or the environment variable it came from. */
export function httpUrl(source: string, text: string, example: string): string {
  let ok = false;
  try {
    const parsed = new URL(text);
    ok = parsed.protocol === 'http:' || parsed.protocol === 'https:';
  } catch {}
  if (!ok) {
    const fix = source.startsWith('--') ? `e.g. ${source} ${example}` : `e.g. ${example}, or unset it`;
    throw new UsageError(`${source} must be an http(s) URL, got ${quote(text)}`, fix);
  }
  return text;
}
