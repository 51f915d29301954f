import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceiverMode = 'ok' | 'error' | 'hang';

interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

/** A loopback OTLP/HTTP receiver: records what it is sent, answers as told (ok, 500, or never). */
export class OtlpReceiver {
  readonly bodies: { path: string; contentType: string; body: Buffer }[] = [];
  mode: ReceiverMode = 'ok';
  private server: Server | undefined;
  private readonly hung = new Set<ServerResponse>();
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  requests(path: string): number {
    return this.bodies.filter((b) => b.path === path).length;
  }

  /** Every span received as OTLP/JSON, with attributes flattened to plain values. */
  spans(): OtlpSpan[] {
    const out: OtlpSpan[] = [];
    for (const { path, contentType, body } of this.bodies) {
      if (path !== '/v1/traces' || !contentType.includes('json')) continue;
      const payload = JSON.parse(body.toString('utf8'));
      for (const rs of payload.resourceSpans ?? []) {
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            out.push({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: s.kind,
              attributes: Object.fromEntries(
                (s.attributes as OtlpAttribute[]).map((a) => [a.key, plain(a.value)]),
              ),
            });
          }
        }
      }
    }
    return out;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    this.bodies.push({
      path: req.url ?? '',
      contentType: req.headers['content-type'] ?? '',
      body: Buffer.concat(chunks),
    });
    if (this.mode === 'hang') {
      this.hung.add(res);
      return;
    }
    if (this.mode === 'error') {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    res
      .writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' })
      .end(req.headers['content-type']?.includes('json') ? '{}' : '');
  }
}

function plain(value: Record<string, unknown>): unknown {
  if ('stringValue' in value) return value.stringValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return value.doubleValue;
  if ('boolValue' in value) return value.boolValue;
  if ('arrayValue' in value) {
    return ((value.arrayValue as { values?: Record<string, unknown>[] }).values ?? []).map(plain);
  }
  return value;
}
