import type { Clock } from '../../src/policy/clock.ts';

/** A clock whose waits complete at once and advance its time, recording each wait. */
export function fakeClock(startMs = Date.UTC(2026, 0, 1)) {
  let now = startMs;
  const sleeps: number[] = [];
  const clock: Clock = {
    now: () => now,
    sleep(ms, signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
  return {
    clock,
    sleeps,
    advance(ms: number) {
      now += ms;
    },
  };
}

/** A clock whose waits never end unless aborted: a test using it hangs if abort does not cut a wait short. */
export function stuckClock(): Clock & { waiting: Promise<void> } {
  let started!: () => void;
  const waiting = new Promise<void>((resolve) => {
    started = resolve;
  });
  return {
    waiting,
    now: () => Date.now(),
    sleep(_ms, signal) {
      started();
      return new Promise((_resolve, reject) => {
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    },
  };
}
