/**
 * The plain SDK and an instrumented client, side by side against the same
 * scripted loopback server: each case runs the same call on both and asserts
 * the same outcome and the same requests on the wire. Each case is a
 * difference found by running openai-node's own test suite with every client
 * wrapped in instrument() (see the README's Compatibility section for the
 * differences that are there by design, which are not here).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import OpenAI, { AzureOpenAI } from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { instrument } from '../../src/index.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { LoopbackServer, readBody } from '../helpers/loopback-server.ts';
import { chatCompletion, type Reply, rateLimited, ScriptedServer } from '../helpers/scripted-server.ts';

let server: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());

type Options = ConstructorParameters<typeof OpenAI>[0];
type Call = (client: OpenAI) => Promise<unknown>;

const plainClient = (options: Options = {}) =>
  new OpenAI({ baseURL: server.url, apiKey: 'sk-test', ...options });
const wrappedClient = (options: Options = {}) =>
  instrument(plainClient(options), { clock: fakeClock().clock });

/** Most specific first: what a caller's `instanceof` chain would see. */
const ERROR_KINDS = [
  ['NotFoundError', OpenAI.NotFoundError],
  ['BadRequestError', OpenAI.BadRequestError],
  ['RateLimitError', OpenAI.RateLimitError],
  ['InternalServerError', OpenAI.InternalServerError],
  ['APIConnectionTimeoutError', OpenAI.APIConnectionTimeoutError],
  ['APIConnectionError', OpenAI.APIConnectionError],
  ['APIError', OpenAI.APIError],
  ['SyntaxError', SyntaxError],
  ['TypeError', TypeError],
  ['Error', Error],
] as const;

function describeError(error: unknown) {
  const kind = ERROR_KINDS.find(([, Class]) => error instanceof Class)?.[0] ?? typeof error;
  const e = error as { status?: unknown; message?: unknown };
  return { kind, status: e?.status, message: e?.message };
}

/** Pages compare by their items; everything else by value. */
function normalize(value: unknown): unknown {
  const page = value as { getPaginatedItems?: () => unknown[]; hasNextPage?: () => boolean } | null;
  if (typeof page?.getPaginatedItems === 'function') {
    return { items: page.getPaginatedItems(), hasNextPage: page.hasNextPage?.() };
  }
  return value;
}

async function settle(promise: Promise<unknown>) {
  try {
    return { resolved: normalize(await promise) };
  } catch (error) {
    return { rejected: describeError(error) };
  }
}

/** A multipart body with its random boundary replaced, so that two sends of the same form compare equal. */
function withoutBoundary(body: unknown, contentType: string | undefined): unknown {
  const boundary = /boundary=([^;]+)/.exec(contentType ?? '')?.[1];
  return boundary && typeof body === 'string' ? body.replaceAll(boundary, 'BOUNDARY') : body;
}

/** What one client did: the outcome, and every request the server received. */
async function observe(client: OpenAI, replies: Reply[], call: Call) {
  server.reply(...replies);
  const outcome = await settle(call(client));
  const requests = server.received.map((r) => ({
    method: r.method,
    url: r.url,
    retryCount: r.headers['x-stainless-retry-count'],
    body: withoutBoundary(r.body, r.headers['content-type']),
  }));
  return { outcome, requests };
}

/** Runs `call` on a plain client and on an instrumented one built from the same options. */
async function expectParity(replies: Reply[], call: Call, options: Options = {}) {
  const plain = await observe(plainClient(options), replies, call);
  const wrapped = await observe(wrappedClient(options), replies, call);
  expect(wrapped).toEqual(plain);
  return plain;
}

async function collect(stream: AsyncIterable<unknown>): Promise<unknown[]> {
  const events: unknown[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

const response = (id = 'resp_1', status = 'completed') => ({
  id,
  object: 'response',
  created_at: 1,
  status,
  model: 'gpt-4o-mini',
  output: [],
  parallel_tool_calls: true,
  tool_choice: 'auto',
  tools: [],
});

// The SDK's server errors carry retry-after-ms so its own retries wait 1 ms, not its backoff.
const serverError = (): Reply => ({
  status: 500,
  json: { error: { message: 'The server had an error', type: 'server_error', param: null, code: null } },
  headers: { 'retry-after-ms': '1' },
});

describe('every Responses route besides create is sent as the SDK sends it', () => {
  const routes: [string, Call, Reply][] = [
    ['responses.retrieve', (c) => c.responses.retrieve('resp_1'), { json: response() }],
    [
      'responses.delete',
      (c) => c.responses.delete('resp_1'),
      { json: { id: 'resp_1', object: 'response.deleted', deleted: true } },
    ],
    ['responses.cancel', (c) => c.responses.cancel('resp_1'), { json: response('resp_1', 'cancelled') }],
    [
      'responses.inputItems.list',
      (c) => c.responses.inputItems.list('resp_1'),
      { json: { object: 'list', data: [], first_id: null, last_id: null, has_more: false } },
    ],
    [
      'responses.compact with only the model',
      (c) => c.responses.compact({ model: 'gpt-4o-mini' }),
      { json: { id: 'cmp_1', object: 'response.compaction', created_at: 1, output: [] } },
    ],
    [
      'responses.inputTokens.count with no body',
      (c) => c.responses.inputTokens.count(),
      { json: { object: 'response.input_tokens', input_tokens: 0 } },
    ],
    [
      'responses.inputTokens.count without a model',
      (c) => c.responses.inputTokens.count({ input: 'hi' }),
      { json: { object: 'response.input_tokens', input_tokens: 1 } },
    ],
    [
      'responses.retrieve as a stream (background-mode resume)',
      async (c) => collect(await c.responses.retrieve('resp_1', { stream: true, starting_after: 1 })),
      {
        sse: [
          { type: 'response.in_progress', sequence_number: 2, response: response('resp_1', 'in_progress') },
          { type: 'response.completed', sequence_number: 3, response: response() },
        ],
      },
    ],
  ];

  test.each(routes)('%s: one request, the same result', async (_name, call, reply) => {
    const plain = await expectParity([reply], call);
    expect(plain.requests).toHaveLength(1);
    expect(plain.outcome).toHaveProperty('resolved');
  });

  test('a 404 on such a route is the SDK’s NotFoundError, from the server', async () => {
    const notFound: Reply = {
      status: 404,
      json: {
        error: { message: 'No response found', type: 'invalid_request_error', param: null, code: null },
      },
    };
    const plain = await expectParity([notFound], (c) => c.responses.retrieve('resp_missing'));
    expect(plain.outcome).toMatchObject({ rejected: { kind: 'NotFoundError', status: 404 } });
    expect(plain.requests).toHaveLength(1);
  });
});

describe('bodies validation cannot read are sent untouched', () => {
  const request = JSON.stringify({ model: 'gpt-4o-mini', input: 'hi' });
  const bodies: [string, () => unknown][] = [
    ['a JSON string', () => request],
    [
      'FormData',
      () => {
        const form = new FormData();
        form.append('model', 'gpt-4o-mini');
        form.append('input', 'hi');
        return form;
      },
    ],
    ['bytes', () => new TextEncoder().encode(request)],
  ];

  test.each(bodies)(
    'POST /responses with %s as its body: one request, the server decides',
    async (_name, body) => {
      const plain = await expectParity([{ json: response() }], (c) =>
        c.request({ method: 'post', path: '/responses', body: body() }),
      );
      expect(plain.requests).toHaveLength(1);
      expect(plain.outcome).toHaveProperty('resolved');
    },
  );
});

describe('client.request()', () => {
  test('is retried like any other call', async () => {
    const plain = await expectParity([rateLimited(1), { json: { a: 1 } }], (c) =>
      c.request({ method: 'get', path: '/foo' }),
    );
    expect(plain.outcome).toEqual({ resolved: { a: 1 } });
    expect(plain.requests.map((r) => r.retryCount)).toEqual(['0', '1']);
  });

  test('.asResponse() gives the raw response of the attempt that succeeded', async () => {
    await expectParity([rateLimited(1), { json: { a: 1 } }], (c) =>
      c
        .request({ method: 'get', path: '/foo' })
        .asResponse()
        .then((r) => r.text()),
    );
  });

  const streamedBodies: [string, () => unknown][] = [
    [
      'a ReadableStream',
      () =>
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('streamed-content'));
            controller.close();
          },
        }),
    ],
    [
      'an async iterable',
      () =>
        (async function* () {
          yield new TextEncoder().encode('streamed-content');
        })(),
    ],
  ];

  test.each(streamedBodies)(
    'a request whose body is %s is sent once: it cannot be replayed',
    async (_name, body) => {
      const plain = await expectParity([rateLimited(1), { json: { a: 1 } }], (c) =>
        c.request({ method: 'post', path: '/foo', body: body() }),
      );
      expect(plain.requests).toHaveLength(1);
      expect(plain.outcome).toMatchObject({ rejected: { kind: 'RateLimitError', status: 429 } });
    },
  );
});

describe('constructor options', () => {
  const chat = (c: OpenAI) =>
    c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

  test.each([0, 1, 3])('maxRetries: %i in the constructor means that many retries', async (maxRetries) => {
    const plain = await expectParity([serverError()], chat, { maxRetries });
    expect(plain.requests).toHaveLength(maxRetries + 1);
  });

  test('maxRetries: 0 and a malformed 200: one request, the SDK’s SyntaxError', async () => {
    const plain = await expectParity(
      [{ raw: '{invalid' }, { json: chatCompletion() }],
      (c) => c.get('/items'),
      { maxRetries: 0 },
    );
    expect(plain.outcome).toMatchObject({ rejected: { kind: 'SyntaxError' } });
    expect(plain.requests).toHaveLength(1);
  });

  test('withOptions({ maxRetries }) on the client means that many retries', async () => {
    const plain = await expectParity([serverError()], (c) => chat(c.withOptions({ maxRetries: 1 })));
    expect(plain.requests).toHaveLength(2);
  });
});

describe('x-stainless-retry-count', () => {
  const twice429 = () => [rateLimited(1), rateLimited(1), { json: { a: 1 } }];

  test('counts the retries by default', async () => {
    const plain = await expectParity(twice429(), (c) => c.request({ method: 'get', path: '/foo' }), {
      maxRetries: 4,
    });
    expect(plain.requests.map((r) => r.retryCount)).toEqual(['0', '1', '2']);
  });

  test('a caller’s explicit value is sent as given', async () => {
    const plain = await expectParity(
      twice429(),
      (c) => c.request({ method: 'get', path: '/foo', headers: { 'X-Stainless-Retry-Count': '42' } }),
      { maxRetries: 4 },
    );
    expect(plain.requests.at(-1)?.retryCount).toBe('42');
  });

  test('a caller’s null omits it, per request or in defaultHeaders', async () => {
    const perRequest = await expectParity(
      twice429(),
      (c) => c.request({ method: 'get', path: '/foo', headers: { 'X-Stainless-Retry-Count': null } }),
      { maxRetries: 4 },
    );
    expect(perRequest.requests.map((r) => r.retryCount)).toEqual([undefined, undefined, undefined]);
    const byDefault = await expectParity(twice429(), (c) => c.request({ method: 'get', path: '/foo' }), {
      maxRetries: 4,
      defaultHeaders: { 'X-Stainless-Retry-Count': null },
    });
    expect(byDefault.requests.map((r) => r.retryCount)).toEqual([undefined, undefined, undefined]);
  });
});

/** Sends a stream's headers at once and holds its events until released. */
class GatedStreamServer extends LoopbackServer {
  private gate = Promise.resolve();
  private open: () => void = () => {};
  private events: unknown[] = [];

  async start(): Promise<this> {
    await this.listen('/v1');
    return this;
  }

  arm(events: unknown[]): void {
    this.events = events;
    this.gate = new Promise<void>((resolve) => {
      this.open = resolve;
    });
  }

  release(): void {
    this.open();
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await readBody(req);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'x-request-id': 'req_gated' });
    res.flushHeaders();
    await this.gate;
    for (const event of this.events) res.write(`data: ${JSON.stringify(event)}\n\n`);
    res.end('data: [DONE]\n\n');
  }
}

describe('streams keep the SDK’s promise contract', () => {
  const chunk = (content: string) => ({
    id: 'chatcmpl-s',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
  });
  const streamChat = (c: OpenAI) =>
    c.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });

  test('create({ stream: true }) settles on the response headers, before the first event', async () => {
    const gated = await new GatedStreamServer().start();
    try {
      for (const client of [
        new OpenAI({ baseURL: gated.url, apiKey: 'sk-test' }),
        instrument(new OpenAI({ baseURL: gated.url, apiKey: 'sk-test' }), { clock: fakeClock().clock }),
      ]) {
        gated.arm([chunk('Hel'), chunk('lo')]);
        // The first event is released only once create() has settled: a client that waits for it never settles.
        const stream = await streamChat(client).finally(() => gated.release());
        const events = (await collect(stream)) as ReturnType<typeof chunk>[];
        expect(events.map((e) => e.choices[0]?.delta.content)).toEqual(['Hel', 'lo']);
      }
    } finally {
      await gated.close();
    }
  }, 20_000);

  test('an error as the first event is raised inside for await, not by create()', async () => {
    const errorEvent: Reply = {
      sse: [{ error: { message: 'The model is overloaded', type: 'invalid_request_error', code: null } }],
    };
    const where = async (client: OpenAI) => {
      server.reply(errorEvent);
      let stream: AsyncIterable<unknown>;
      try {
        stream = await streamChat(client);
      } catch (error) {
        return { rejectedBy: 'create()', error: describeError(error) };
      }
      try {
        await collect(stream);
        return { rejectedBy: 'nothing' };
      } catch (error) {
        return { rejectedBy: 'for await', error: describeError(error) };
      }
    };
    const plain = await where(plainClient({ maxRetries: 0 }));
    expect(plain).toMatchObject({ rejectedBy: 'for await', error: { kind: 'APIError' } });
    expect(await where(wrappedClient({ maxRetries: 0 }))).toEqual(plain);
  });
});

describe('AzureOpenAI', () => {
  test('deployment and api-version reach the URL as the SDK builds it', async () => {
    const azure = () =>
      new AzureOpenAI({
        baseURL: `${server.url.replace(/\/v1$/, '')}/openai`,
        apiKey: 'azure-key',
        apiVersion: '2024-10-21',
        deployment: 'my-deployment',
      });
    const call = (c: OpenAI) =>
      c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const plain = await observe(azure(), [{ json: chatCompletion() }], call);
    const wrapped = await observe(
      instrument(azure(), { clock: fakeClock().clock }),
      [{ json: chatCompletion() }],
      call,
    );
    expect(wrapped).toEqual(plain);
    expect(plain.requests[0]?.url).toBe(
      '/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21',
    );
  });
});
