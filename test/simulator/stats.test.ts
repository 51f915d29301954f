/** stats() counts every request received, including those reset or left hanging. */
import { describe, expect, it, vi } from 'vitest';
import { CHAT, get, post, simulator, statusOf } from './helpers.ts';

describe('stats', () => {
  it('counts by route, status and key, resets and hangs included', async () => {
    const sim = await simulator({
      faults: [
        { kind: 'reset', every: 1, models: ['reset-me'] },
        { kind: 'hang', every: 1, models: ['hang-me'] },
      ],
    });
    expect(await statusOf(sim)).toBe(200);
    expect(await statusOf(sim, CHAT, 'sk-other')).toBe(200);
    expect(await statusOf(sim, { ...CHAT, model: 'reset-me' })).toBe('reset');
    expect((await get(sim, '/models')).status).toBe(200);
    expect((await post(sim, '/nope', {})).status).toBe(404);
    expect((await post(sim, '/embeddings', { model: 'e' }, null)).status).toBe(401);

    const hanging = post(sim, '/chat/completions', { ...CHAT, model: 'hang-me' }).catch(() => 'aborted');
    await vi.waitFor(() => expect(sim.stats().hangs).toBe(1), { timeout: 50_000 });

    expect(sim.stats()).toEqual({
      requests: 7,
      byRoute: { 'chat.completions': 4, models: 1, unknown: 1, embeddings: 1 },
      byStatus: { '200': 3, '404': 1, '401': 1, reset: 1, hang: 1 },
      byKey: { 'sk-sim': 5, 'sk-other': 1, '(none)': 1 },
      resets: 1,
      hangs: 1,
      streamErrors: 0,
    });

    // Closing ends the hung request rather than waiting for it.
    await sim.close();
    expect(await hanging).toBe('aborted');
  });

  it('counts a request the moment it arrives', async () => {
    const sim = await simulator({ faults: [{ kind: 'slow', every: 1, delayMs: 60_000 }] });
    const slow = post(sim, '/chat/completions', CHAT).catch(() => 'closed');
    await vi.waitFor(() => expect(sim.stats().requests).toBe(1), { timeout: 50_000 });
    expect(sim.stats().byStatus).toEqual({});
    await sim.close();
    expect(await slow).toBe('closed');
  });

  it('counts broken streams', async () => {
    const sim = await simulator({ faults: [{ kind: 'stream_error', every: 1 }] });
    const response = await post(sim, '/chat/completions', { ...CHAT, stream: true });
    expect(await response.text()).toContain('"error"');
    expect(sim.stats()).toMatchObject({ streamErrors: 1, byStatus: { '200': 1 } });
  });

  it('returns a copy, and resetStats starts again from zero', async () => {
    const sim = await simulator();
    await statusOf(sim);
    const before = sim.stats();
    await statusOf(sim);
    expect(before.requests).toBe(1);
    sim.resetStats();
    expect(sim.stats()).toEqual({
      requests: 0,
      byRoute: {},
      byStatus: {},
      byKey: {},
      resets: 0,
      hangs: 0,
      streamErrors: 0,
    });
  });
});

describe('close', () => {
  it('is prompt with several hung requests and idempotent', async () => {
    const sim = await simulator({ faults: [{ kind: 'hang', every: 1 }] });
    const pending = Array.from({ length: 3 }, () =>
      post(sim, '/chat/completions', CHAT).catch(() => 'closed'),
    );
    await vi.waitFor(() => expect(sim.stats().hangs).toBe(3), { timeout: 50_000 });
    await Promise.all([sim.close(), sim.close()]);
    expect(await Promise.all(pending)).toEqual(['closed', 'closed', 'closed']);
  });

  it('stops a stream in flight', async () => {
    const sim = await simulator({
      scenario: { name: 'slow-stream', streamChunkDelayMs: 60_000, phases: [{ name: 'p' }] },
    });
    const response = await post(sim, '/chat/completions', { ...CHAT, stream: true });
    expect(response.status).toBe(200);
    const body = response.text().catch(() => 'cut');
    await sim.close();
    expect(await body).toBe('cut');
  });
});
