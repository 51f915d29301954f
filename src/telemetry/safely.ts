/**
 * Telemetry is best-effort: a failure inside span or metric code must never
 * change what the caller gets. Each kind of failure is reported once as a
 * process warning, so a broken exporter cannot flood the logs.
 */
import { redactUrlsIn } from '../redact.ts';
import { printable } from './redact.ts';

const warned = new Set<string>();

export function safely<T>(what: string, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (error) {
    warnOnce(what, error);
    return undefined;
  }
}

export function warnOnce(what: string, error: unknown): void {
  if (warned.has(what)) return;
  warned.add(what);
  // An exporter's message may quote its endpoint, credentials included, or a server's reply.
  const detail = printable(redactUrlsIn(error instanceof Error ? error.message : String(error)));
  process.emitWarning(`retryscope: telemetry failed in ${what} (${detail}); the call itself is unaffected`, {
    code: 'RETRYSCOPE_TELEMETRY',
  });
}

/** One key for every export failure, so a dead backend yields one warning in all. */
export const EXPORT_WARNING = 'export';
