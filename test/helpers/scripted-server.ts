import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackServer, readBody } from './loopback-server.ts';

/** One scripted reply. The server pops one per request, in order; the last one repeats. */
export type Reply =
  | { status?: number; json?: unknown; headers?: Record<string, string>; raw?: string }
  | {
      sse: unknown[];
      headers?: Record<string, string> /** raw SSE text appended after the events */;
      tail?: string;
    }
  | { reset: true }
  | { hang: true };

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

/**
 * A local HTTP server on 127.0.0.1 that speaks OpenAI's wire format (JSON
 * bodies and errors, SSE streams) and replies from a per-test script.
 */
export class ScriptedServer extends LoopbackServer {
  readonly received: ReceivedRequest[] = [];
  private script: Reply[] = [];
  private decide: ((request: ReceivedRequest) => Reply) | undefined;

  async start(): Promise<this> {
    await this.listen('/v1');
    return this;
  }

  reply(...replies: Reply[]): this {
    this.script = replies;
    this.decide = undefined;
    this.received.length = 0;
    return this;
  }

  /** Replies computed per request, for tests where order across concurrent callers is not fixed. */
  replyWith(decide: (request: ReceivedRequest) => Reply): this {
    this.decide = decide;
    this.received.length = 0;
    return this;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = (await readBody(req)).toString('utf8');
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {}
    const received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
    this.received.push(received);
    const reply = this.decide
      ? this.decide(received)
      : this.script.length > 1
        ? this.script.shift()!
        : this.script[0];
    if (!reply) {
      res.writeHead(500).end('{"error":{"message":"no script"}}');
      return;
    }
    if ('reset' in reply) {
      req.socket.destroy();
      return;
    }
    if ('hang' in reply) {
      this.hang(res);
      return;
    }
    const base = { 'x-request-id': `req_${this.received.length}`, ...reply.headers };
    if ('sse' in reply) {
      res.writeHead(200, { 'content-type': 'text/event-stream', ...base });
      for (const event of reply.sse) res.write(`data: ${JSON.stringify(event)}\n\n`);
      res.end(reply.tail ?? 'data: [DONE]\n\n');
      return;
    }
    const payload = reply.raw ?? JSON.stringify(reply.json ?? {});
    res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...base }).end(payload);
  }
}

export const chatCompletion = (content = 'hello', model = 'gpt-4o-mini') => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model,
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
  usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
});

export const apiError = (
  status: number,
  code: string | null,
  type: string,
  message: string,
  headers = {},
) => ({
  status,
  json: { error: { message, type, param: null, code } },
  headers,
});

/** A 429 whose headers agree with each other: the window refills when retry-after-ms says. */
export const rateLimited = (retryAfterMs = 5) =>
  apiError(429, 'rate_limit_exceeded', 'requests', 'Rate limit reached for gpt-4o-mini', {
    'retry-after-ms': String(retryAfterMs),
    'x-ratelimit-limit-requests': '60000',
    'x-ratelimit-remaining-requests': '0',
    'x-ratelimit-reset-requests': `${retryAfterMs}ms`,
    'x-ratelimit-limit-tokens': '10000000',
    'x-ratelimit-remaining-tokens': '9999000',
    'x-ratelimit-reset-tokens': '6ms',
  });

export const quotaExhausted = () =>
  apiError(
    429,
    'insufficient_quota',
    'insufficient_quota',
    'You exceeded your current quota, please check your plan and billing details.',
  );
