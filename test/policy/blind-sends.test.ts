import { describe, expect, test } from 'vitest';
import { afterBlindBooking, BlindSends } from '../../src/policy/blind-sends.ts';

describe('blind sends', () => {
  test('tallied per bucket with the last send time; taken once; given back merged', () => {
    const b = new BlindSends();
    b.sent('a', 10);
    b.sent('a', 30);
    b.sent('b', 20);
    const a = b.take('a');
    expect(a).toEqual({ count: 2, lastAt: 30 });
    expect(b.take('a')).toBeUndefined();
    b.sent('a', 40);
    b.giveBack('a', a!);
    expect(b.take('a')).toEqual({ count: 3, lastAt: 40 });
    expect(b.take('b')).toEqual({ count: 1, lastAt: 20 });
  });

  test('a call booked blind books again once the limit is known, else it is tallied', () => {
    expect(afterBlindBooking(true)).toBe('book-again');
    expect(afterBlindBooking(false)).toBe('tally');
  });
});
