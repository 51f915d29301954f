/**
 * Every resource method of the SDK works through an instrumented client: none
 * is refused before sending, each sends exactly one request when the server
 * answers 200, and each runs under the policy (an attempt span). The methods
 * are enumerated from a real client, so a method the SDK adds is covered
 * without anyone listing it here.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { instrument } from '../../src/index.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { createTestTelemetry } from '../helpers/otel.ts';
import { apiError, type Reply, ScriptedServer } from '../helpers/scripted-server.ts';
import { splitSpans } from '../helpers/stream-server.ts';

let server: ScriptedServer;
const t = createTestTelemetry();
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());
beforeEach(() => t.reset());

// Plausible for an object, a list page and a deleted marker alike.
const ok: Reply = {
  json: { id: 'obj_1', object: 'list', data: [], has_more: false, first_id: null, last_id: null },
};

interface Endpoint {
  name: string;
  call: (extra?: object) => unknown;
  /** It passes a `stream` flag from its body, params or query to the client. */
  streams: boolean;
}

// A chunk plausible for every streaming endpoint: each reads only what it needs.
const event = {
  id: 'evt_1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [],
  type: 'response.created',
  sequence_number: 0,
};

// A generated endpoint method hands the request to the client itself (`this._client.post(...)`)
// or to a shared helper (`createEmbedding(this._client, ...)`). Anything else is a helper built
// on other methods (polling, streaming runners, parsing), which sends as many requests as it needs.
const SENDS_ITSELF =
  /this\._client\s*\.\s*(get|post|put|patch|delete|getAPIList|request)\s*\(|\(this\._client\s*,/;
// What those helpers are; a method that is neither is a new kind this test must learn about.
const HELPER = /poll|stream|parse|runTools|upload|unwrap|verifySignature|prepare|forResult|waitFor/i;

/** Every method reachable from `client`'s resources, split into endpoint methods and helpers. */
function enumerate(client: OpenAI): { endpoints: Endpoint[]; helpers: string[] } {
  const endpoints: Endpoint[] = [];
  const helpers: string[] = [];
  const seen = new Set<object>();
  const walk = (resource: unknown, name: string) => {
    if (resource === null || typeof resource !== 'object' || seen.has(resource)) return;
    seen.add(resource);
    if (!('_client' in resource)) return;
    for (let proto = Object.getPrototypeOf(resource); proto && proto !== Object.prototype; ) {
      if (proto.constructor?.name === 'APIResource') break;
      for (const key of Object.getOwnPropertyNames(proto)) {
        const fn = proto[key] as unknown;
        if (key === 'constructor' || typeof fn !== 'function') continue;
        const source = Function.prototype.toString.call(fn);
        const full = `${name}.${key}`;
        if (HELPER.test(key) || !SENDS_ITSELF.test(source)) helpers.push(full);
        else
          endpoints.push({
            name: full,
            call: (extra) => fn.apply(resource, argumentsFor(source, extra)),
            streams: /stream:\s*(body|params|query)\??\.stream/.test(source),
          });
      }
      proto = Object.getPrototypeOf(proto);
    }
    for (const key of Object.keys(resource))
      if (key !== '_client') walk((resource as never)[key], `${name}.${key}`);
  };
  for (const key of Object.keys(client)) walk((client as never)[key], key);
  return { endpoints, helpers };
}

/**
 * Arguments from the method's own parameter names: a string for a path parameter, a request-options object
 * last, and for params or a body a valid inference body that also answers any `…_id`
 * (parent ids taken out of params, as in `const { conversation_id, ...query } = params`).
 */
function argumentsFor(source: string, extra: object = {}): unknown[] {
  const list = /^[^(]*\(([^)]*)\)/.exec(source)?.[1] ?? '';
  const names = list
    .split(',')
    .map((p) => p.split('=')[0]!.trim())
    .filter(Boolean);
  return names.map((name) => {
    if (name === 'options') return {};
    if (!/^(body|params|query)$/.test(name)) return `${name.replace(/ID$|Id$/, '').toLowerCase()}_1`;
    const body: Record<string, unknown> = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      input: 'hi',
      prompt: 'hi',
      ...extra,
    };
    return new Proxy(body, {
      get: (target, key) =>
        typeof key === 'string' && !(key in target) && /_id$|_checkpoint$/.test(key)
          ? `${key}_1`
          : Reflect.get(target, key),
    });
  });
}

function instrumented() {
  return instrument(new OpenAI({ baseURL: server.url, apiKey: 'sk-every-method', adminAPIKey: 'sk-admin' }), {
    tracerProvider: t.tracerProvider,
    meterProvider: t.meterProvider,
    clock: fakeClock().clock,
    limiter: false,
  });
}

describe('every SDK method, wrapped', () => {
  const { endpoints, helpers } = enumerate(new OpenAI({ apiKey: 'sk-x', baseURL: 'http://127.0.0.1:9/v1' }));

  test('the walk finds the whole surface, and every method it skips is a known kind of helper', () => {
    // openai 7.12.1 (the oldest in range) has 283 endpoint methods, 7.57 about 390; a walk
    // that finds a few dozen is broken.
    expect(endpoints.length).toBeGreaterThan(250);
    expect(helpers.filter((name) => !HELPER.test(name.split('.').at(-1)!))).toEqual([]);
  });

  test('each endpoint method is sent (none refused), exactly once, under an attempt span', async () => {
    const client = instrumented();
    const mine = enumerate(client).endpoints;
    expect(mine.map((e) => e.name)).toEqual(endpoints.map((e) => e.name));
    const failures: string[] = [];
    for (const endpoint of mine) {
      server.reply(ok);
      t.reset();
      try {
        await endpoint.call();
      } catch (error) {
        failures.push(`${endpoint.name}: ${(error as Error).message}`);
        continue;
      }
      const attempts = (await t.spans()).filter((s) => s.attributes['retryscope.attempt'] !== undefined);
      if (server.received.length !== 1 || attempts.length !== 1)
        failures.push(
          `${endpoint.name}: ${server.received.length} requests, ${attempts.length} attempt spans`,
        );
    }
    expect(failures).toEqual([]);
  });

  test('each endpoint that can stream does so wrapped: one request, one attempt span, the stream read to its end', async () => {
    const client = instrumented();
    const streaming = enumerate(client).endpoints.filter((e) => e.streams);
    expect(streaming.length).toBeGreaterThanOrEqual(10);
    const failures: string[] = [];
    for (const endpoint of streaming) {
      server.reply({ sse: [event] });
      t.reset();
      try {
        const items: unknown[] = [];
        for await (const item of (await endpoint.call({ stream: true })) as AsyncIterable<unknown>)
          items.push(item);
        if (items.length !== 1) failures.push(`${endpoint.name}: ${items.length} items`);
      } catch (error) {
        failures.push(`${endpoint.name}: ${(error as Error).message}`);
        continue;
      }
      const { ops, attempts } = splitSpans(await t.spans());
      if (
        server.received.length !== 1 ||
        attempts.length !== 1 ||
        ops[0]?.attributes['retryscope.outcome'] !== 'success'
      )
        failures.push(
          `${endpoint.name}: ${server.received.length} requests, ${attempts.length} attempt spans`,
        );
    }
    expect(failures).toEqual([]);
  });

  test('the routes validation used to refuse are sent: Responses retrieve, delete, cancel, input items', async () => {
    const client = instrumented();
    server.reply(ok);
    await client.responses.retrieve('resp_1');
    await client.responses.delete('resp_1');
    await client.responses.cancel('resp_1');
    await client.responses.inputItems.list('resp_1');
    expect(server.received.map((r) => `${r.method} ${r.url.split('?')[0]}`)).toEqual([
      'GET /v1/responses/resp_1',
      'DELETE /v1/responses/resp_1',
      'POST /v1/responses/resp_1/cancel',
      'GET /v1/responses/resp_1/input_items',
    ]);
  });
});

describe('client.request()', () => {
  test('runs under the policy: retried, one attempt span per request, one operation span', async () => {
    const client = instrumented();
    server.reply(apiError(503, null, 'server_error', 'down'), ok);
    const result = await client.request({ method: 'get', path: '/models' });
    expect((result as { object: string }).object).toBe('list');
    expect(server.received).toHaveLength(2);
    const spans = await t.spans();
    expect(spans.filter((s) => s.attributes['retryscope.attempt'] !== undefined)).toHaveLength(2);
    const ops = spans.filter((s) => s.attributes['retryscope.outcome'] !== undefined);
    expect(ops.map((o) => o.attributes['retryscope.outcome'])).toEqual(['success']);
    expect(ops[0]!.attributes['gen_ai.operation.name']).toBe('models');
  });

  test('a POST through client.request() to a validated endpoint is validated like create()', async () => {
    const client = instrumented();
    server.reply(ok);
    await expect(
      client.request({
        method: 'post',
        path: '/chat/completions',
        body: { model: 'gpt-4o-mini', messages: [] },
      }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    expect(server.received).toHaveLength(0);
  });
});
