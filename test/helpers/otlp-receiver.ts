import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackServer, readBody } from './loopback-server.ts';

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
export class OtlpReceiver extends LoopbackServer {
  readonly bodies: { path: string; contentType: string; headers: IncomingHttpHeaders; body: Buffer }[] = [];
  mode: ReceiverMode = 'ok';

  async start(): Promise<this> {
    await this.listen();
    return this;
  }

  requests(path: string): number {
    return this.bodies.filter((b) => b.path === path).length;
  }

  /** The resource attributes of every OTLP/JSON trace batch received on `path`, flattened to plain values. */
  resources(path = '/v1/traces'): Record<string, unknown>[] {
    return this.jsonBodies(path).flatMap((payload) =>
      (payload.resourceSpans ?? []).map((rs: { resource?: { attributes?: OtlpAttribute[] } }) =>
        Object.fromEntries((rs.resource?.attributes ?? []).map((a) => [a.key, plain(a.value)])),
      ),
    );
  }

  private jsonBodies(path: string) {
    return this.bodies
      .filter((b) => b.path === path && b.contentType.includes('json'))
      .map((b) => JSON.parse(b.body.toString('utf8')));
  }

  /** Every span received as OTLP/JSON on `path`, with attributes flattened to plain values. */
  spans(path = '/v1/traces'): OtlpSpan[] {
    const out: OtlpSpan[] = [];
    for (const payload of this.jsonBodies(path)) {
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

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    this.bodies.push({
      path: req.url ?? '',
      contentType: req.headers['content-type'] ?? '',
      headers: req.headers,
      body,
    });
    if (this.mode === 'hang') {
      this.hang(res);
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
