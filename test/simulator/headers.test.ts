/**
 * Every answer carries OpenAI's headers, and the limiter's numbers reach the
 * wire exactly (a fake clock makes them exact).
 */
import { describe, expect, it } from 'vitest';
import { parseGoDuration, type Simulator } from '../../src/simulator/index.ts';
import { CHAT, FakeClock, get, post, simulator } from './helpers.ts';

const RATE_LIMIT_HEADERS = [
  'x-ratelimit-limit-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-requests',
  'x-ratelimit-reset-tokens',
] as const;

/** Go's Duration.String() shapes: 0s, 20ms, 1.5s, 6m0s, 1h2m3s, 250µs. */
const GO_DURATION = /^(0s|\d+(\.\d+)?(ns|µs|ms)|(\d+h)?(\d+m)?\d+(\.\d+)?s)$/;

function expectOpenAIHeaders(response: Response): void {
  expect(response.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
  expect(response.headers.get('openai-processing-ms')).toMatch(/^\d+$/);
  for (const name of RATE_LIMIT_HEADERS) expect(response.headers.get(name), name).not.toBeNull();
  for (const name of ['x-ratelimit-limit-requests', 'x-ratelimit-limit-tokens'] as const) {
    expect(Number(response.headers.get(name))).toBeGreaterThan(0);
  }
  for (const name of ['x-ratelimit-remaining-requests', 'x-ratelimit-remaining-tokens'] as const) {
    expect(response.headers.get(name)).toMatch(/^\d+$/);
  }
  for (const name of ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens'] as const) {
    expect(response.headers.get(name)).toMatch(GO_DURATION);
  }
}

describe('OpenAI headers on every answer', () => {
  it.each([
    ['chat JSON', 200, (sim: Simulator) => post(sim, '/chat/completions', CHAT)],
    ['chat stream', 200, (sim: Simulator) => post(sim, '/chat/completions', { ...CHAT, stream: true })],
    ['responses', 200, (sim: Simulator) => post(sim, '/responses', { model: 'm', input: 'hi' })],
    ['embeddings', 200, (sim: Simulator) => post(sim, '/embeddings', { model: 'm', input: 'hi' })],
    ['models', 200, (sim: Simulator) => get(sim, '/models')],
    ['unknown route', 404, (sim: Simulator) => post(sim, '/nope', {})],
    ['missing key', 401, (sim: Simulator) => post(sim, '/chat/completions', CHAT, null)],
    ['bad JSON', 400, (sim: Simulator) => post(sim, '/chat/completions', '{"model":')],
    ['bad params', 400, (sim: Simulator) => post(sim, '/chat/completions', { model: 'm' })],
    [
      'unavailable model',
      503,
      (sim: Simulator) => post(sim, '/chat/completions', { ...CHAT, model: 'down' }),
    ],
  ])('%s (%i)', async (_, status, send) => {
    const sim = await simulator({ unavailableModels: ['down'] });
    const response = await send(sim);
    await response.arrayBuffer();
    expect(response.status).toBe(status);
    expectOpenAIHeaders(response);
  });

  it('429s and 5xx faults carry them too', async () => {
    const sim = await simulator({ limits: { rpm: 1 } });
    await (await post(sim, '/chat/completions', CHAT)).arrayBuffer();
    const limited = await post(sim, '/chat/completions', CHAT);
    expect(limited.status).toBe(429);
    expectOpenAIHeaders(limited);

    const broken = await simulator({ faults: [{ kind: '502', every: 1 }] });
    const failed = await post(broken, '/chat/completions', CHAT);
    expect(failed.status).toBe(502);
    expectOpenAIHeaders(failed);

    const broke = await simulator({ quotaTokens: 0 });
    const noQuota = await post(broke, '/chat/completions', CHAT);
    expect(noQuota.status).toBe(429);
    expectOpenAIHeaders(noQuota);
  });

  it('a body over 8 MiB gets 413, with the headers', async () => {
    const sim = await simulator();
    const response = await post(sim, '/chat/completions', 'x'.repeat(9 * 1024 * 1024));
    expect(response.status).toBe(413);
    expectOpenAIHeaders(response);
    expect(((await response.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });

  it('errors are OpenAI-shaped JSON', async () => {
    const sim = await simulator();
    const response = await post(sim, '/chat/completions', { model: 'gpt-4o-mini', messages: [] });
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({
      error: {
        message: expect.stringContaining("Invalid 'messages'"),
        type: 'invalid_request_error',
        param: 'messages',
        code: 'empty_array',
      },
    });
  });
});

describe('limiter numbers on the wire (fake clock)', () => {
  it('remaining and reset after one request', async () => {
    const sim = await simulator({ clock: new FakeClock(), limits: { rpm: 60, tpm: 1000 } });
    const response = await post(sim, '/chat/completions', { ...CHAT, max_tokens: 17 });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('60');
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('1000');
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('59');
    // 3 prompt tokens + 17 max_tokens.
    expect(response.headers.get('x-ratelimit-remaining-tokens')).toBe('980');
    expect(response.headers.get('x-ratelimit-reset-requests')).toBe('1s');
    expect(response.headers.get('x-ratelimit-reset-tokens')).toBe('1.2s');
  });

  it('reset headers count down as the clock moves, in Go notation', async () => {
    const clock = new FakeClock();
    const sim = await simulator({ clock, limits: { rpm: 2, tpm: 1_000_000 } });
    await (await post(sim, '/chat/completions', CHAT)).arrayBuffer();
    clock.advance(1500);
    const response = await post(sim, '/chat/completions', CHAT);
    // Two requests used at 2 rpm, 1.5 s apart: 1 request's worth of 30 s drained by 1.5 s → 58.5 s + 30 s.
    expect(response.headers.get('x-ratelimit-reset-requests')).toBe('58.5s');
    clock.advance(30_000);
    const later = await get(sim, '/models');
    expect(later.headers.get('x-ratelimit-reset-requests')).toBe('28.5s');
    expect(parseGoDuration(later.headers.get('x-ratelimit-reset-requests')!)).toBe(28_500);
  });

  it('retry-after-ms says when the bucket has room; retry-after rounds it up to seconds', async () => {
    const clock = new FakeClock();
    // 7 rpm: a request frees up every 8571.43 ms, which is not a whole second.
    const sim = await simulator({ clock, limits: { rpm: 7 }, countRejected: false });
    for (let i = 0; i < 7; i++) expect((await post(sim, '/chat/completions', CHAT)).status).toBe(200);

    const rejected = await post(sim, '/chat/completions', CHAT);
    expect(rejected.status).toBe(429);
    const retryAfterMs = Number(rejected.headers.get('retry-after-ms'));
    expect(retryAfterMs).toBe(8572);
    expect(rejected.headers.get('retry-after')).toBe('9');
    const body = (await rejected.json()) as { error: { message: string; type: string } };
    expect(body.error.type).toBe('requests');
    expect(body.error.message).toContain('Limit 7, Used 7, Requested 1. Please try again in 8.572s.');

    clock.advance(retryAfterMs - 1);
    expect((await post(sim, '/chat/completions', CHAT)).status).toBe(429);
    clock.advance(1);
    expect((await post(sim, '/chat/completions', CHAT)).status).toBe(200);
  });

  it('with countRejected (the default) each rejection pushes the wait out', async () => {
    const clock = new FakeClock();
    const sim = await simulator({ clock, limits: { rpm: 6 } });
    for (let i = 0; i < 6; i++) await (await post(sim, '/chat/completions', CHAT)).arrayBuffer();
    const first = await post(sim, '/chat/completions', CHAT);
    const second = await post(sim, '/chat/completions', CHAT);
    expect(first.headers.get('retry-after-ms')).toBe('20000');
    expect(second.headers.get('retry-after-ms')).toBe('30000');
    // And honouring the last advertised wait is enough.
    clock.advance(30_000);
    expect((await post(sim, '/chat/completions', CHAT)).status).toBe(200);
  });

  it('TPM rejections carry retry-after too', async () => {
    const clock = new FakeClock();
    const sim = await simulator({ clock, limits: { tpm: 60 } });
    expect((await post(sim, '/chat/completions', { ...CHAT, max_tokens: 37 })).status).toBe(200);
    const rejected = await post(sim, '/chat/completions', { ...CHAT, max_tokens: 37 });
    expect(rejected.status).toBe(429);
    // 40 used + 40 requested − 60 = 20 tokens at 1 token/s.
    expect(rejected.headers.get('retry-after-ms')).toBe('20000');
    expect(rejected.headers.get('retry-after')).toBe('20');
    expect(((await rejected.json()) as { error: { type: string } }).error.type).toBe('tokens');
  });

  it('per-key buckets: one key hitting its limit leaves another alone', async () => {
    const sim = await simulator({
      clock: new FakeClock(),
      limits: { rpm: 1 },
      keys: { 'sk-big': { limits: { rpm: 100 } } },
    });
    expect((await post(sim, '/chat/completions', CHAT, 'sk-a')).status).toBe(200);
    expect((await post(sim, '/chat/completions', CHAT, 'sk-a')).status).toBe(429);
    expect((await post(sim, '/chat/completions', CHAT, 'sk-b')).status).toBe(200);
    const big = await post(sim, '/chat/completions', CHAT, 'sk-big');
    expect(big.headers.get('x-ratelimit-limit-requests')).toBe('100');
  });
});
