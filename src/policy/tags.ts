/**
 * Which attribution tags a call carries: the allow-listed keys, from the client's `tags` and the
 * caller's OpenTelemetry baggage, each value made safe to record and bounded in how many
 * distinct values one client ever records per key, so no tag can explode metric cardinality.
 */

/** A tag key: lower-case, so `retryscope.tag.<key>` is also a valid Prometheus label suffix. */
export const TAG_KEY_PATTERN = /^[a-z][a-z0-9_]{0,31}$/;

/** The longest value recorded, in characters; a longer one is cut (a value is a label, not a payload). */
export const MAX_TAG_VALUE_LENGTH = 64;

/** Per tag key, the distinct values a client has recorded so far (shared by its sibling clients). */
export type SeenTagValues = Map<string, Set<string>>;

export interface TagInput {
  /** Tags set in code (`tags`), already allow-listed by the options check. */
  code: Readonly<Record<string, string>> | undefined;
  /** The baggage entries active at call start, as `[key, value]`. */
  baggage: Iterable<readonly [string, string]>;
  /** The allow-list (`tagKeys`): no other key is ever returned. */
  keys: readonly string[];
  /** Distinct values recorded per key before an unseen one becomes `overflow`. */
  maxValues: number;
  /** The client's values seen so far; new values under the cap are added to it. */
  seen: SeenTagValues;
  /** What an unseen value past the cap is recorded as (`_OTHER`). */
  overflow: string;
}

// Controls (escape sequences), format characters (bidi overrides, zero-width) and line separators:
// they would garble a terminal, a log line or a dashboard legend.
const UNSAFE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

/** A value as recorded: controls removed, whitespace trimmed, cut to a bounded length; `undefined` if nothing is left. */
export function cleanTagValue(value: string): string | undefined {
  const cleaned = value.replace(UNSAFE, '').trim();
  if (cleaned === '') return undefined;
  // By code point, so a cut never splits a surrogate pair.
  const points = Array.from(cleaned);
  return points.length <= MAX_TAG_VALUE_LENGTH ? cleaned : points.slice(0, MAX_TAG_VALUE_LENGTH).join('');
}

/**
 * The call's tags. A value set in code beats one from baggage for the same key: code is the
 * service's own word, baggage is propagated from upstream and may be set by anyone who calls it.
 * Each value is cleaned, then capped: a value already seen is kept, a new one is kept while the
 * key has fewer than `maxValues`, and after that it is `overflow` (so at most `maxValues + 1`
 * distinct values per key, whatever arrives).
 */
export function resolveTags(input: TagInput): Record<string, string> {
  return capTags(input).recorded;
}

/** The call's tags as recorded (capped) beside their uncapped values (see `tagValues`). */
export function capTags(input: TagInput): {
  recorded: Record<string, string>;
  values: Record<string, string>;
} {
  const values = tagValues(input);
  const recorded: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) recorded[key] = capped(input, key, value);
  return { recorded, values };
}

/**
 * The call's tag values, cleaned but not capped: what a per-tag budget is kept by. The cap bounds
 * labels, not budgets: a tenant past `maxTagValues` must not share an `_OTHER` budget with others.
 */
export function tagValues(input: Pick<TagInput, 'code' | 'baggage' | 'keys'>): Record<string, string> {
  const allowed = new Set(input.keys);
  const raw = new Map<string, string>();
  for (const [key, value] of input.baggage) {
    if (allowed.has(key) && typeof value === 'string') raw.set(key, value);
  }
  for (const [key, value] of Object.entries(input.code ?? {})) {
    if (allowed.has(key) && typeof value === 'string') raw.set(key, value);
  }
  const values: Record<string, string> = {};
  for (const [key, value] of raw) {
    const cleaned = cleanTagValue(value);
    if (cleaned !== undefined) values[key] = cleaned;
  }
  return values;
}

function capped(input: TagInput, key: string, value: string): string {
  let values = input.seen.get(key);
  if (!values) {
    values = new Set();
    input.seen.set(key, values);
  }
  if (values.has(value)) return value;
  if (values.size >= input.maxValues) return input.overflow;
  values.add(value);
  return value;
}
