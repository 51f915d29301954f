/**
 * An OpenAI-compatible server that echoes the request back, in every field
 * retryscope records, must not get the API key or the prompt into any span,
 * metric or console line; nor make the meter grow without bound.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CircuitOpenError, instrument } from '../../src/index.ts';
import { redactUrl, redactUrlsIn } from '../../src/redact.ts';
import { ConsoleTreeExporter } from '../../src/telemetry/console-tree.ts';
import { metricErrorCode, metricModel, spanValue } from '../../src/telemetry/redact.ts';
import { fakeClock } from '../helpers/fake-clock.ts';
import { LoopbackServer, readBody } from '../helpers/loopback-server.ts';

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const API_KEY = 'sk-canary-API-KEY-0123456789abcdef';
const PROMPT = 'tell me about CANARY-PROMPT-7f3a please';
const CANARIES = [API_KEY, 'CANARY-PROMPT-7f3a', 'Bearer'];

type Mode = 'error' | 'success' | 'stream' | 'bare-key';

/** Puts the Authorization header and the prompt into every field a client might record. */
class EchoServer extends LoopbackServer {
  mode: Mode = 'error';
  async start(): Promise<this> {
    await this.listen('/v1');
    return this;
  }
  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = JSON.parse((await readBody(req)).toString('utf8')) as { messages: { content: string }[] };
    const auth = req.headers.authorization ?? '';
    const echo =
      this.mode === 'bare-key' ? auth.replace(/^Bearer /, '') : `${auth} ${body.messages[0]!.content}`;
    // Header values cannot hold every character; the echo is still the key and the prompt.
    const headers = { 'x-request-id': echo, 'content-type': 'application/json' };
    if (this.mode === 'error' || this.mode === 'bare-key') {
      res.writeHead(400, headers).end(
        JSON.stringify({
          error: { message: 'no', type: 'invalid_request_error', param: null, code: echo },
        }),
      );
      return;
    }
    const choice = { index: 0, finish_reason: echo };
    if (this.mode === 'success') {
      res.writeHead(200, headers).end(
        JSON.stringify({
          id: echo,
          object: 'chat.completion',
          created: 1,
          model: echo,
          choices: [{ ...choice, message: { role: 'assistant', content: 'ok' }, logprobs: null }],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        }),
      );
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream' });
    const chunk = (delta: object, finish: string | null) => ({
      id: echo,
      object: 'chat.completion.chunk',
      created: 1,
      model: echo,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    res.write(`data: ${JSON.stringify(chunk({ role: 'assistant', content: 'ok' }, null))}\n\n`);
    res.write(`data: ${JSON.stringify(chunk({}, echo))}\n\n`);
    res.end('data: [DONE]\n\n');
  }
}

class Reader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

function pipeline() {
  const exporter = new InMemorySpanExporter();
  const lines: string[] = [];
  const tracerProvider = new TracerProvider({
    spanProcessors: [
      new SimpleSpanProcessor({ exporter }),
      new SimpleSpanProcessor({ exporter: new ConsoleTreeExporter((line) => lines.push(line)) }),
    ],
  });
  const reader = new Reader({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    tracerProvider,
    meterProvider,
    lines,
    async spans(): Promise<ReadableSpan[]> {
      await tracerProvider.forceFlush();
      return exporter.getFinishedSpans();
    },
    async metrics() {
      return (await reader.collect()).resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    },
  };
}

let server: EchoServer;
beforeAll(async () => {
  server = await new EchoServer().start();
});
afterAll(() => server.close());

describe('an echoing server: no canary in any span, metric or console line', () => {
  // `apiKey` as a function: the SDK resolves it only at the first send, after instrument().
  test.each<[Mode, 'string key' | 'key function']>([
    ['error', 'string key'],
    ['success', 'string key'],
    ['stream', 'string key'],
    ['bare-key', 'string key'],
    ['error', 'key function'],
    ['bare-key', 'key function'],
  ])('%s, %s', async (mode, keyKind) => {
    server.mode = mode;
    const t = pipeline();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const apiKey = keyKind === 'string key' ? API_KEY : async () => API_KEY;
    const openai = instrument(new OpenAI({ baseURL: server.url, apiKey, maxRetries: 0 }), {
      tracerProvider: t.tracerProvider,
      meterProvider: t.meterProvider,
      clock: fakeClock().clock,
      maxAttempts: 1,
    });
    const messages = [{ role: 'user' as const, content: PROMPT }];
    if (mode === 'stream') {
      const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
      for await (const _ of stream);
    } else if (mode === 'success') {
      await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
    } else {
      await expect(openai.chat.completions.create({ model: 'gpt-4o-mini', messages })).rejects.toThrow();
    }
    process.off('warning', onWarning);

    const spans = await t.spans();
    expect(spans).toHaveLength(2);
    expect(t.lines.length).toBeGreaterThan(0);
    const everything = JSON.stringify({
      spans: spans.map((s) => ({
        name: s.name,
        attributes: s.attributes,
        events: s.events,
        status: s.status,
        resource: s.resource.attributes,
      })),
      metrics: await t.metrics(),
      console: t.lines,
      warnings,
    });
    for (const canary of CANARIES) expect(everything).not.toContain(canary);
    // The fields are still there, marked, not silently dropped.
    const attempt = spans.find((s) => s.attributes['retryscope.attempt'] !== undefined)!;
    expect(attempt.attributes['retryscope.request_id']).toBe('_OTHER');
  });
});

test('2,500 hostile 400s with 100 KB error codes make a bounded number of metric series', async () => {
  const flood = new (class extends LoopbackServer {
    n = 0;
    async start() {
      await this.listen('/v1');
      return this;
    }
    protected async handle(req: IncomingMessage, res: ServerResponse) {
      await readBody(req);
      const code = `${'x'.repeat(100_000)}${this.n++}`;
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { message: 'no', type: 'invalid_request_error', param: null, code } }));
    }
  })();
  await flood.start();
  try {
    const t = pipeline();
    const openai = instrument(new OpenAI({ baseURL: flood.url, apiKey: API_KEY, maxRetries: 0 }), {
      meterProvider: t.meterProvider,
      clock: fakeClock().clock,
      maxAttempts: 1,
      circuitBreaker: false,
    });
    const call = () =>
      openai.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
        .catch(() => {});
    for (let batch = 0; batch < 100; batch++) await Promise.all(Array.from({ length: 25 }, call));
    expect(flood.n).toBe(2_500);
    const metrics = await t.metrics();
    const attempts = metrics.find((m) => m.descriptor.name === 'retryscope.client.attempts')!;
    expect(attempts.dataPoints).toHaveLength(1);
    expect(attempts.dataPoints[0]!.attributes['retryscope.error.code']).toBe('_OTHER');
    expect(attempts.dataPoints[0]!.value).toBe(2_500);
    const series = metrics.reduce((n, m) => n + m.dataPoints.length, 0);
    expect(series).toBeLessThan(20);
  } finally {
    await flood.close();
  }
}, 120_000);

test("CircuitOpenError's message names the upstream without its userinfo or query", async () => {
  const failing = new (class extends LoopbackServer {
    async start() {
      await this.listen('/v1');
      return this;
    }
    protected async handle(req: IncomingMessage, res: ServerResponse) {
      await readBody(req);
      res
        .writeHead(500, { 'content-type': 'application/json' })
        .end('{"error":{"message":"down","type":"server_error"}}');
    }
  })();
  await failing.start();
  try {
    const port = new URL(failing.url).port;
    const baseURL = `http://user:S3CRET-PASS@127.0.0.1:${port}/v1?api-key=S3CRET-Q`;
    const openai = instrument(new OpenAI({ baseURL, apiKey: API_KEY, maxRetries: 0 }), {
      clock: fakeClock().clock,
      maxAttempts: 1,
      circuitBreaker: { minimumCalls: 2 },
    });
    let open: unknown;
    for (let i = 0; i < 30 && !open; i++) {
      await openai.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
        .catch((error: unknown) => {
          if (error instanceof CircuitOpenError) open = error;
        });
    }
    expect(open).toBeInstanceOf(CircuitOpenError);
    const message = (open as Error).message;
    expect(message).toContain(`http://127.0.0.1:${port}/v1`);
    expect(message).not.toContain('S3CRET');
    expect(message).not.toContain('user');
  } finally {
    await failing.close();
  }
});

describe('the rules, one by one', () => {
  test('URLs lose userinfo, query and fragment, in text too', () => {
    expect(redactUrl('http://user:pw@127.0.0.1:9/v1?api-key=K#x')).toBe('http://127.0.0.1:9/v1');
    expect(redactUrl('http://u:p@[::1')).toBe('http://[::1');
    expect(redactUrlsIn('failed: POST https://a:b@otlp.example/v1/traces?token=T (503)')).toBe(
      'failed: POST https://otlp.example/v1/traces (503)',
    );
  });
  test('span values: identifiers up to 256 characters, without the client key', () => {
    expect(spanValue('req_abc123')).toBe('req_abc123');
    expect(spanValue('ft:gpt-4o-mini:org::abc')).toBe('ft:gpt-4o-mini:org::abc');
    expect(spanValue('a'.repeat(256))).toBe('a'.repeat(256));
    expect(spanValue('a'.repeat(257))).toBe('_OTHER');
    expect(spanValue('Bearer sk-x')).toBe('_OTHER');
    expect(spanValue('\u001b[2Jred')).toBe('_OTHER');
    expect(spanValue(`x${API_KEY}`, new Set([API_KEY]))).toBe('_OTHER');
  });
  test('metric values: known error codes, model names by pattern', () => {
    expect(metricErrorCode('rate_limit_exceeded')).toBe('rate_limit_exceeded');
    expect(metricErrorCode('429')).toBe('429');
    expect(metricErrorCode('made_up_code')).toBe('_OTHER');
    expect(metricModel('gpt-4o-mini-2024-07-18')).toBe('gpt-4o-mini-2024-07-18');
    expect(metricModel('ft:gpt-4o:my-org:custom:9x8y')).toBe('ft:gpt-4o:my-org:custom:9x8y');
    expect(metricModel('meta-llama/Llama-3.1-8B-Instruct')).toBe('meta-llama/Llama-3.1-8B-Instruct');
    expect(metricModel('m'.repeat(65))).toBe('_OTHER');
    expect(metricModel('gpt 4')).toBe('_OTHER');
  });
});
