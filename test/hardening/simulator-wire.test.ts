/**
 * The simulator survives any client: a request line it cannot parse, a path
 * that does not decode, a client that trickles its headers or its body. Each
 * gets an OpenAI-shaped error (or, having sent nothing, a closed socket), and
 * the server keeps answering.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Simulator } from '../../src/simulator/index.ts';
import { get, simulator } from '../simulator/helpers.ts';
import { exchange, type RawExchange } from './raw-http.ts';

// Short timeouts so the slow-client cases end quickly; nothing here asserts how long anything took.
const TIMEOUTS = { headersMs: 150, requestMs: 300, keepAliveMs: 100 };

function expectOpenAIError(result: RawExchange, status: number): void {
  expect(result.response?.status, `${result.error ?? ''} ${result.received.slice(0, 200)}`).toBe(status);
  const body = JSON.parse(result.response!.body) as { error: { message: unknown; type: unknown } };
  expect(typeof body.error.message).toBe('string');
  expect(body.error.type).toBe('invalid_request_error');
}

async function stillServing(sim: Simulator): Promise<void> {
  const response = await get(sim, '/models');
  expect(response.status).toBe(200);
  await response.arrayBuffer();
}

describe('malformed requests get a 4xx in OpenAI error JSON, and the server stays up', () => {
  test('GET // (the URL parser throws on it)', async () => {
    const sim = await simulator({ timeouts: TIMEOUTS });
    expectOpenAIError(await exchange(sim.port, 'GET // HTTP/1.1\r\nHost: x\r\n\r\n'), 404);
    await stillServing(sim);
  });

  test('a path with a broken percent-encoding', async () => {
    const sim = await simulator({ timeouts: TIMEOUTS });
    const result = await exchange(
      sim.port,
      'GET /v1/models/%E0%A4%A HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-sim\r\n\r\n',
    );
    expectOpenAIError(result, 400);
    await stillServing(sim);
  });

  test.each([
    ['a request line that is not HTTP', 'GARBAGE\r\n\r\n', 400],
    ['an absolute-form target that is not a URL', 'GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['a header past the 16 KB limit', `GET /v1/models HTTP/1.1\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ['an Expect other than 100-continue', 'GET /v1/models HTTP/1.1\r\nExpect: nonsense\r\n\r\n', 417],
    [
      'a bad chunked body',
      'POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      400,
    ],
  ])('%s', async (_name, request, status) => {
    const sim = await simulator({ timeouts: TIMEOUTS });
    expectOpenAIError(await exchange(sim.port, request), status);
    await stillServing(sim);
  });
});

describe('slow clients are closed, with a 408, instead of held open', () => {
  test('500 slowloris connections (headers never finished) all get a 408', async () => {
    const sim = await simulator({ timeouts: TIMEOUTS });
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => exchange(sim.port, `GET /v1/models HTTP/1.1\r\nX-${i}: a\r\n`)),
    );
    for (const result of results) expectOpenAIError(result, 408);
    await stillServing(sim);
  });

  test('a body that never finishes arriving gets a 408', async () => {
    const sim = await simulator({ timeouts: TIMEOUTS });
    const result = await exchange(
      sim.port,
      'POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer sk-sim\r\nContent-Length: 1000\r\n\r\n{"model":',
    );
    expectOpenAIError(result, 408);
  });

  test('a connection that sends nothing is closed', async () => {
    const sim = await simulator({ timeouts: TIMEOUTS });
    const result = await exchange(sim.port, '');
    // Node's header timer may count from the connect (then a 408) or not (then closed unanswered).
    if (result.received !== '') expectOpenAIError(result, 408);
    await stillServing(sim);
  });
});

// --- Fuzzing ------------------------------------------------------------------

const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/);
const method = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('GET', 'POST') },
  fc.constantFrom('PUT', 'DELETE', 'OPTIONS', 'PATCH', 'HEAD'),
  token,
);
const segment = fc.oneof(
  fc.constantFrom(
    'v1',
    'models',
    'chat',
    'completions',
    'responses',
    'embeddings',
    '',
    '..',
    '%',
    '%E0%A4%A',
    '%00',
    '%2F',
    'é',
  ),
  fc.string({ maxLength: 12 }),
);
const target = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '/v1/chat/completions',
      '/v1/responses',
      '/v1/embeddings',
      '/v1/models',
      '/v1/models/gpt-4o',
    ),
  },
  fc.array(segment, { maxLength: 5 }).map((parts) => `/${parts.join('/')}`),
  fc.constantFrom('//', '*', 'http://x/v1/models', 'http://[::1', '/v1/models?x=%zz', '', ' '),
  fc.string({ maxLength: 30 }),
);
const version = fc.oneof(
  { weight: 6, arbitrary: fc.constant('HTTP/1.1') },
  fc.constantFrom('HTTP/1.0', 'HTTP/2', 'HTTP/9.9', 'http/1.1', ''),
);
const printable = fc.stringMatching(/^[ -~]{0,40}$/);
const header = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(token, printable) },
  fc.tuple(token, fc.string({ maxLength: 40 })),
  fc.tuple(fc.constantFrom('Authorization'), fc.constantFrom('Bearer sk-sim', 'Bearer', 'Basic x', '')),
  fc.tuple(
    fc.constantFrom('Content-Length'),
    fc.constantFrom('0', '5', '-1', 'abc', '99999999999999999999', '1, 2'),
  ),
  fc.tuple(fc.constantFrom('Transfer-Encoding'), fc.constantFrom('chunked', 'gzip', 'chunked, chunked')),
  fc.tuple(fc.constantFrom('Content-Type'), fc.constantFrom('application/json', 'text/plain')),
  fc.tuple(fc.constantFrom('Expect'), fc.constantFrom('100-continue', 'nonsense')),
  fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })),
);
const chatBody = fc
  .record(
    {
      model: fc.oneof(fc.constant('gpt-4o-mini'), fc.string({ maxLength: 10 }), fc.integer()),
      messages: fc.oneof(
        fc.constant([{ role: 'user', content: 'hi' }]),
        fc.array(fc.anything(), { maxLength: 3 }),
      ),
      stream: fc.oneof(fc.boolean(), fc.anything()),
      max_tokens: fc.oneof(fc.integer({ min: -5, max: 40 }), fc.anything()),
    },
    { requiredKeys: [] },
  )
  .map((body) => JSON.stringify(body));
const body = fc.oneof(chatBody, fc.string({ maxLength: 60 }), fc.constant(''), fc.constant('{"model":'));

/** A request built from parts, or cut short anywhere, or raw bytes. */
const request = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        method,
        target,
        version,
        auth: fc.boolean(),
        headers: fc.array(header, { maxLength: 5 }),
        body,
        framing: fc.constantFrom('length', 'none', 'chunked'),
      })
      .map((r) => {
        const lines = [
          `${r.method} ${r.target} ${r.version}`,
          ...(r.auth ? ['Authorization: Bearer sk-sim'] : []),
          ...r.headers.map(([name, value]) => `${name}: ${value}`),
        ];
        if (r.framing === 'length') lines.push(`Content-Length: ${Buffer.byteLength(r.body)}`);
        if (r.framing === 'chunked') lines.push('Transfer-Encoding: chunked');
        const payload =
          r.framing === 'chunked'
            ? `${Buffer.byteLength(r.body).toString(16)}\r\n${r.body}\r\n0\r\n\r\n`
            : r.body;
        return { method: r.method, bytes: Buffer.from(`${lines.join('\r\n')}\r\n\r\n${payload}`) };
      }),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom('GET', 'POST'), fc.uint8Array({ maxLength: 200 }))
      .map(([m, raw]) => ({ method: m, bytes: Buffer.concat([Buffer.from(`${m} /v1/`), raw]) })),
  },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 200 }).map((raw) => ({ method: '', bytes: Buffer.from(raw) })),
  },
);
const maybeCut = fc
  .tuple(request, fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, fc.nat()))
  .map(([r, cut]) => ({
    ...r,
    bytes: cut === undefined ? r.bytes : r.bytes.subarray(0, cut % (r.bytes.length + 1)),
  }));

test('fuzz: any request line, headers and body are answered (an error as OpenAI JSON) or closed, and the server stays up', async () => {
  const sim = await simulator({ timeouts: TIMEOUTS });
  await fc.assert(
    fc.asyncProperty(maybeCut, async ({ method: m, bytes }) => {
      const result = await exchange(sim.port, bytes, { headOnly: m === 'HEAD' });
      if (result.response) {
        expect(result.response.status, result.received.slice(0, 120)).toBeGreaterThanOrEqual(200);
        // An answer to HEAD has no body, even an error; a timeout's 408 may still carry one.
        if (result.response.status >= 400 && !(m === 'HEAD' && result.response.body === '')) {
          const error = (JSON.parse(result.response.body) as { error: { message: unknown; type: unknown } })
            .error;
          expect(typeof error.message).toBe('string');
          expect(typeof error.type).toBe('string');
        }
      }
      await stillServing(sim);
    }),
    { numRuns: 120, seed: 12 },
  );
}, 120_000);
