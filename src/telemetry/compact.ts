import type { Attributes } from '@opentelemetry/api';

/** Drops undefined values so they never reach an exporter as the string "undefined". */
export function compact(attributes: Record<string, Attributes[string] | undefined>): Attributes {
  const out: Attributes = {};
  // for...in, not Object.entries: this runs several times per call, on the hot path.
  for (const key in attributes) {
    const value = attributes[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
