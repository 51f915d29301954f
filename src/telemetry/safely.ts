/**
 * Telemetry is best-effort: a failure inside span or metric code must never
 * change what the caller gets. Each distinct failure is reported once as a
 * process warning, so a broken exporter cannot flood the logs.
 */
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
  const key = `${what}: ${error instanceof Error ? error.name : typeof error}`;
  if (warned.has(key)) return;
  warned.add(key);
  const detail = error instanceof Error ? error.message : String(error);
  process.emitWarning(`retryscope: telemetry failed in ${what} (${detail}); the call itself is unaffected`, {
    code: 'RETRYSCOPE_TELEMETRY',
  });
}
