/**
 * Telemetry is best-effort: a failure inside span or metric code must never
 * change what the caller gets. Each kind of failure is reported once as a
 * process warning, so a broken exporter cannot flood the logs.
 */
import { redactUrlsIn } from '../redact.ts';
import { printable } from './redact.ts';

export function safely<T>(what: string, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (error) {
    warnOnce(what, error);
    return undefined;
  }
}

export function warnOnce(what: string, error: unknown): void {
  reportOnce(
    what,
    error,
    (detail) => `retryscope: telemetry failed in ${what} (${detail}); the call itself is unaffected`,
    'RETRYSCOPE_TELEMETRY',
  );
}

// Keys already reported: names, or the failing objects themselves (a user's hook), held weakly.
const warnedNames = new Set<string>();
const warnedObjects = new WeakSet<object>();

/**
 * One process warning per `key`, however often it fails. The error's message may quote an
 * endpoint with its credentials, or a server's reply: it is redacted and made printable.
 */
export function reportOnce(
  key: string | object,
  error: unknown,
  say: (detail: string) => string,
  code: string,
): void {
  if (typeof key === 'string' ? warnedNames.has(key) : warnedObjects.has(key)) return;
  if (typeof key === 'string') warnedNames.add(key);
  else warnedObjects.add(key);
  let detail: string;
  try {
    detail = printable(redactUrlsIn(error instanceof Error ? error.message : String(error)));
  } catch {
    detail = 'an unprintable error';
  }
  process.emitWarning(say(detail), { code });
}

/** One key for every export failure, so a dead backend yields one warning in all. */
export const EXPORT_WARNING = 'export';
