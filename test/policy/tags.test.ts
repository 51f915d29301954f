import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  cleanTagValue,
  MAX_TAG_VALUE_LENGTH,
  resolveTags,
  type SeenTagValues,
  TAG_KEY_PATTERN,
  type TagInput,
} from '../../src/policy/tags.ts';

const OVERFLOW = '_OTHER';
const call = (over: Partial<TagInput> & { seen: SeenTagValues }): Record<string, string> =>
  resolveTags({
    code: undefined,
    baggage: [],
    keys: ['feature', 'tenant'],
    maxValues: 3,
    overflow: OVERFLOW,
    ...over,
  });

describe('resolveTags', () => {
  test('a code-set tag beats the same key from baggage; other allow-listed baggage is kept', () => {
    const tags = call({
      seen: new Map(),
      code: { feature: 'search' },
      baggage: [
        ['feature', 'from-upstream'],
        ['tenant', 'acme'],
      ],
    });
    expect(tags).toEqual({ feature: 'search', tenant: 'acme' });
  });

  test('keys outside the allow-list never appear, from code or baggage', () => {
    const tags = call({ seen: new Map(), code: { user: 'u1' }, baggage: [['session', 's1']] });
    expect(tags).toEqual({});
  });

  test('after maxValues distinct values a key records new ones as the overflow value; seen ones stay', () => {
    const seen: SeenTagValues = new Map();
    const got = ['a', 'b', 'c', 'd', 'a', 'e', 'c'].map((v) => call({ seen, code: { tenant: v } }).tenant);
    expect(got).toEqual(['a', 'b', 'c', OVERFLOW, 'a', OVERFLOW, 'c']);
  });

  test('values are cleaned before counting: controls and format characters gone, trimmed, cut', () => {
    expect(cleanTagValue(' ac\u001b[31mme\u202e\n ')).toBe('ac[31mme');
    expect(cleanTagValue('\u0000 \t')).toBeUndefined();
    expect(cleanTagValue('x'.repeat(200))).toHaveLength(MAX_TAG_VALUE_LENGTH);
    // A cut never splits a surrogate pair.
    expect(Array.from(cleanTagValue('😀'.repeat(100))!)).toHaveLength(MAX_TAG_VALUE_LENGTH);
    const seen: SeenTagValues = new Map();
    expect(call({ seen, baggage: [['tenant', ' acme\r\n']] })).toEqual({ tenant: 'acme' });
    expect(call({ seen, baggage: [['tenant', '\u0007']] })).toEqual({});
    expect(seen.get('tenant')).toEqual(new Set(['acme']));
  });

  const key = fc.oneof(fc.constantFrom('feature', 'tenant', 'user', 'Feature', ''), fc.string());
  const entries = fc.array(fc.tuple(key, fc.string({ maxLength: 100 })), { maxLength: 6 });
  const calls = fc.array(
    fc.record({ code: fc.dictionary(key, fc.string({ maxLength: 100 }), { maxKeys: 4 }), baggage: entries }),
    { maxLength: 60 },
  );

  test('whatever arrives: at most maxValues + 1 distinct values per key, only allow-listed keys, bounded clean values', () => {
    fc.assert(
      fc.property(calls, fc.integer({ min: 1, max: 5 }), (inputs, maxValues) => {
        const seen: SeenTagValues = new Map();
        const distinct = new Map<string, Set<string>>();
        for (const input of inputs) {
          const tags = call({ seen, maxValues, code: input.code, baggage: input.baggage });
          for (const [k, v] of Object.entries(tags)) {
            expect(['feature', 'tenant']).toContain(k);
            expect(Array.from(v).length).toBeLessThanOrEqual(MAX_TAG_VALUE_LENGTH);
            expect(v).not.toMatch(/[\p{Cc}\p{Cf}]/u);
            expect(v.trim()).toBe(v);
            const set = distinct.get(k) ?? new Set();
            set.add(v);
            distinct.set(k, set);
          }
        }
        for (const set of distinct.values()) expect(set.size).toBeLessThanOrEqual(maxValues + 1);
      }),
    );
  });

  test('the key pattern admits Prometheus label suffixes only', () => {
    fc.assert(
      fc.property(fc.string(), (k) => {
        if (TAG_KEY_PATTERN.test(k)) expect(`retryscope_tag_${k}`).toMatch(/^[a-zA-Z_][a-zA-Z0-9_]*$/);
      }),
    );
    expect(TAG_KEY_PATTERN.test('feature')).toBe(true);
    expect(['Feature', '1x', 'a-b', 'a.b', 'x'.repeat(33), ''].some((k) => TAG_KEY_PATTERN.test(k))).toBe(
      false,
    );
  });
});
