import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { LoopbackServer, readJson } from './loopback-server.ts';

/**
 * One scripted answer of a server that misbehaves the way real ones do. Every
 * streaming answer first sends its 200 headers and flushes them, then:
 * `events` and `[DONE]`; or nothing until `release()`, then the same; or
 * `events` then nothing, ever (`silence`); or `events` then a reset socket.
 */
export type Act =
  | { status: number; json: unknown; headers?: Record<string, string> }
  | { sse: unknown[]; after?: 'done' | 'hold' | 'silence' | 'reset' }
  /** A JSON 200 whose body stops halfway: the socket is destroyed mid-body. */
  | { truncated: unknown };

/** A loopback OpenAI-shaped server for stream timing and hostile-server tests. */
export class StreamServer extends LoopbackServer {
  readonly received: { method: string; url: string; body: unknown }[] = [];
  private acts: Act[] = [];
  private held: (() => void)[] = [];
  private headersListeners: (() => void)[] = [];
  /** How many answers have sent their headers. */
  headersSent = 0;

  async start(): Promise<this> {
    await this.listen('/v1');
    return this;
  }

  /** Answers in order; the last one repeats. */
  script(...acts: Act[]): this {
    this.acts = acts;
    this.received.length = 0;
    this.headersSent = 0;
    return this;
  }

  /** Resolves once `n` answers have sent their headers. */
  headers(n = 1): Promise<void> {
    if (this.headersSent >= n) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.headersSent >= n) resolve();
        else this.headersListeners.push(check);
      };
      this.headersListeners.push(check);
    });
  }

  /** Lets every held answer send its events and `[DONE]`. */
  release(): void {
    for (const go of this.held.splice(0)) go();
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.received.push({ method: req.method ?? '', url: req.url ?? '', body: await readJson(req) });
    const act = (this.acts.length > 1 ? this.acts.shift() : this.acts[0])!;
    if ('status' in act) {
      res
        .writeHead(act.status, { 'content-type': 'application/json', ...act.headers })
        .end(JSON.stringify(act.json));
      return;
    }
    if ('truncated' in act) {
      const payload = JSON.stringify(act.truncated);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(payload.length) });
      res.write(payload.slice(0, Math.floor(payload.length / 2)), () => {
        this.sentHeaders();
        req.socket.destroy();
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    const events = () => {
      for (const event of act.sse) res.write(`data: ${JSON.stringify(event)}\n\n`);
    };
    if (act.after !== 'hold') events();
    this.sentHeaders();
    switch (act.after ?? 'done') {
      case 'done':
        res.end('data: [DONE]\n\n');
        return;
      case 'hold':
        this.hang(res);
        this.held.push(() => {
          events();
          res.end('data: [DONE]\n\n');
        });
        return;
      case 'silence':
        this.hang(res);
        return;
      case 'reset':
        // Let what was written reach the client first, so the reset comes after it.
        res.write('', () => req.socket.destroy());
        return;
    }
  }

  private sentHeaders(): void {
    this.headersSent++;
    for (const listener of this.headersListeners.splice(0)) listener();
  }
}

export const chunk = (content: string, finish: string | null = null) => ({
  id: 'chatcmpl-s',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, delta: { content }, finish_reason: finish }],
});

export const errorEvent = (code = 'server_error', type = 'server_error') => ({
  error: { message: 'The server had an error while processing your request.', type, code },
});

/** Reads a chat stream to its end: the text deltas, and the error the loop raised, if any. */
export async function drain(stream: AsyncIterable<unknown>): Promise<{ texts: string[]; error?: unknown }> {
  const texts: string[] = [];
  try {
    for await (const c of stream as AsyncIterable<{ choices: { delta: { content?: string | null } }[] }>)
      texts.push(c.choices[0]?.delta.content ?? '');
  } catch (error) {
    return { texts, error };
  }
  return { texts };
}

/** Operation spans, and attempt spans in the order they started. */
export function splitSpans(spans: ReadableSpan[]) {
  return {
    ops: spans.filter((s) => s.attributes['retryscope.outcome'] !== undefined),
    attempts: spans
      .filter((s) => s.attributes['retryscope.attempt'] !== undefined)
      .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]),
  };
}
