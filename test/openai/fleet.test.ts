/**
 * The fleet's bounded wait on its store: a reply already in the socket when
 * the process wakes from a stall is the store answering, not the store down.
 */
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { Fleet } from '../../src/openai/fleet.ts';
import type { SharedAdmission, SharedAdmit } from '../../src/policy/shared-bucket.ts';
import type { BucketStore } from '../../src/policy/store.ts';

const bucket = { credential: '0123456789abcdef', scope: 'fedcba9876543210' };
const input = { now: 0, tokens: 1, rpm: 60, tpm: 0, burstMs: 1000, maxWaitMs: Number.POSITIVE_INFINITY };
const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

/** A loopback socket pair: what `server` writes lands in `client`'s receive buffer at once. */
async function socketPair(): Promise<{ client: Socket; server: Socket }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection');
  const client = connect((listener.address() as { port: number }).port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = (await accepted) as [Socket];
  cleanup.push(() => {
    client.destroy();
    server.destroy();
    listener.close();
  });
  return { client, server };
}

/** A store whose answer is the next byte on `socket`: read in the I/O phase, as a Redis reply is. */
function socketStore(socket: Socket): BucketStore {
  return {
    admit: () =>
      new Promise<SharedAdmission>((resolve) => socket.once('data', () => resolve({ ok: true, waitMs: 7 }))),
    pause: async () => {},
    exhaust: async () => {},
    close: async () => {},
  };
}

/** Holds the event loop, as a busy or descheduled process does. */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {}
}

test('a reply that arrived while the event loop was stalled past the timeout still counts: redis, not local-fallback', async () => {
  const { client, server } = await socketPair();
  const warnings: string[] = [];
  const fleet = new Fleet(socketStore(client), {
    timeoutMs: 5,
    retryMs: 1000,
    warn: (m) => warnings.push(m),
  });
  const admitted = fleet.admit(bucket, input);
  // The reply is in the kernel's buffer now; the stall lets the timeout expire before the loop reads it.
  server.write('x');
  stall(30);
  expect(await admitted).toEqual({ mode: 'redis', admission: { ok: true, waitMs: 7 } });
  expect(fleet.fallbacks).toBe(0);
  expect(warnings).toEqual([]);
});

test('no reply by the timeout: the call paces locally, with one warning', async () => {
  const { client } = await socketPair();
  const warnings: string[] = [];
  const fleet = new Fleet(socketStore(client), {
    timeoutMs: 5,
    retryMs: 1000,
    warn: (m) => warnings.push(m),
  });
  expect(await fleet.admit(bucket, input)).toEqual({ mode: 'local-fallback' });
  expect(fleet.fallbacks).toBe(1);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/did not answer \(no answer in 5 ms\)/);
});

/** A store that records what each booking carried and answers as told. */
function recordingStore(answer: (n: number) => SharedAdmission | Error) {
  const seen: SharedAdmit[] = [];
  const store: BucketStore = {
    admit: async (_b, i) => {
      seen.push(i);
      const a = answer(seen.length);
      if (a instanceof Error) throw a;
      return a;
    },
    pause: async () => {},
    exhaust: async () => {},
    close: async () => {},
  };
  return { store, seen };
}

test('probes sent blind are charged once: concurrent bookings do not both pay for them', async () => {
  const { store, seen } = recordingStore(() => ({ ok: true, waitMs: 0 }));
  const fleet = new Fleet(store, { timeoutMs: 10_000, retryMs: 1000, warn: () => {} });
  fleet.sentBlind(bucket, 3);
  fleet.sentBlind(bucket, 3);
  await Promise.all([fleet.admit(bucket, input), fleet.admit(bucket, input), fleet.admit(bucket, input)]);
  expect(seen.map((i) => i.blind)).toEqual([{ count: 2, lastAt: 3 }, undefined, undefined]);
});

test('a booking that charged nothing (refused, or the store down) gives the probes back to the next', async () => {
  const { store, seen } = recordingStore((n) =>
    n === 1
      ? { ok: false, reason: 'deadline', waitMs: 5000 }
      : n === 2
        ? new Error('down')
        : { ok: true, waitMs: 0 },
  );
  const fleet = new Fleet(store, { timeoutMs: 10_000, retryMs: 0, warn: () => {} });
  fleet.sentBlind(bucket, 3);
  await fleet.admit(bucket, input);
  await fleet.admit(bucket, input);
  await fleet.admit(bucket, input);
  await fleet.admit(bucket, input);
  expect(seen.map((i) => i.blind?.count ?? 0)).toEqual([1, 1, 1, 0]);
});

test('the room an answer reported rides on the next booking; a limit not yet known carries no charge', async () => {
  const { store, seen } = recordingStore(() => ({ ok: true, waitMs: 0 }));
  const fleet = new Fleet(store, { timeoutMs: 10_000, retryMs: 1000, warn: () => {} });
  fleet.sentBlind(bucket, 3);
  fleet.saw(bucket, { atMs: 5, requests: 3 });
  fleet.saw(bucket, { atMs: 6 });
  await fleet.admit(bucket, { ...input, rpm: 0 });
  await fleet.admit(bucket, input);
  expect(seen[0]).toMatchObject({ seen: { atMs: 5, requests: 3 } });
  expect(seen[0]!.blind).toBeUndefined();
  expect(seen[1]).toMatchObject({ blind: { count: 1, lastAt: 3 } });
});
