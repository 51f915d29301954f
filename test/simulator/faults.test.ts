import { describe, expect, it } from 'vitest';
import { FaultCounters, type FaultRequest, pickFault } from '../../src/simulator/faults.ts';
import type { FaultSpec } from '../../src/simulator/index.ts';

const chat: FaultRequest = { route: 'chat.completions', model: 'gpt-4o-mini', stream: false };
const NEVER = [0.99, 0.99, 0.99];

/** Kinds picked for `n` identical requests with the given rolls. */
function run(faults: FaultSpec[], n: number, rolls: readonly number[] = NEVER, request = chat, visit = 0) {
  const counters = new FaultCounters();
  return Array.from({ length: n }, () => pickFault(faults, rolls, request, counters, visit)?.kind ?? '-');
}

describe('pickFault', () => {
  it('every: N strikes the Nth, 2Nth... eligible request', () => {
    expect(run([{ kind: '500', every: 3 }], 7)).toEqual(['-', '-', '500', '-', '-', '500', '-']);
  });

  it('probability compares the roll drawn for that fault', () => {
    const faults: FaultSpec[] = [
      { kind: '500', probability: 0.3 },
      { kind: '503', probability: 0.5 },
    ];
    expect(run(faults, 1, [0.29, 0.1])).toEqual(['500']);
    expect(run(faults, 1, [0.3, 0.49])).toEqual(['503']);
    expect(run(faults, 1, [0.3, 0.5])).toEqual(['-']);
  });

  it('a burst carries on for the next requests', () => {
    const counters = new FaultCounters();
    const fault: FaultSpec = { kind: '503', probability: 0.5, burst: 3 };
    const pick = (roll: number) => pickFault([fault], [roll], chat, counters, 0)?.kind ?? '-';
    expect([pick(0.9), pick(0.1), pick(0.9), pick(0.9), pick(0.9)]).toEqual(['-', '503', '503', '503', '-']);
  });

  it('routes and models filter eligibility, and ineligible requests do not count', () => {
    const faults: FaultSpec[] = [{ kind: '500', every: 2, routes: ['responses'], models: ['gpt-4o'] }];
    const counters = new FaultCounters();
    const pick = (route: 'responses' | 'chat.completions', model: string) =>
      pickFault(faults, NEVER, { route, model, stream: false }, counters, 0)?.kind ?? '-';
    expect([
      pick('responses', 'gpt-4o'),
      pick('chat.completions', 'gpt-4o'),
      pick('responses', 'gpt-4o-mini'),
      pick('responses', 'gpt-4o'),
    ]).toEqual(['-', '-', '-', '500']);
  });

  it('stream_error only strikes streams', () => {
    const faults: FaultSpec[] = [{ kind: 'stream_error', every: 1 }];
    expect(run(faults, 2)).toEqual(['-', '-']);
    expect(run(faults, 2, NEVER, { ...chat, stream: true })).toEqual(['stream_error', 'stream_error']);
  });

  it('response_failed and response_incomplete only strike Responses requests, streamed or not', () => {
    for (const kind of ['response_failed', 'response_incomplete'] as const) {
      const faults: FaultSpec[] = [{ kind, every: 1 }];
      expect(run(faults, 1)).toEqual(['-']);
      expect(run(faults, 1, NEVER, { ...chat, route: 'embeddings' })).toEqual(['-']);
      expect(run(faults, 1, NEVER, { ...chat, route: 'responses' })).toEqual([kind]);
      expect(run(faults, 1, NEVER, { ...chat, route: 'responses', stream: true })).toEqual([kind]);
    }
  });

  it('the first fault to strike wins, but every eligible fault counts the request', () => {
    const faults: FaultSpec[] = [
      { kind: '500', every: 2 },
      { kind: '503', every: 3 },
    ];
    // Request 6 is both a 2nd and a 3rd: the first listed wins.
    expect(run(faults, 6)).toEqual(['-', '500', '503', '500', '-', '500']);
  });

  it('a new phase visit starts the counters afresh', () => {
    const counters = new FaultCounters();
    const faults: FaultSpec[] = [{ kind: '500', every: 2 }];
    expect(pickFault(faults, NEVER, chat, counters, 0)).toBeUndefined();
    expect(pickFault(faults, NEVER, chat, counters, 1)).toBeUndefined();
    expect(pickFault(faults, NEVER, chat, counters, 1)?.kind).toBe('500');
  });
});
