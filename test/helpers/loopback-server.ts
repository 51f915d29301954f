import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP server on 127.0.0.1 and a free port, for tests: subclasses answer
 * in `handle`, may leave a response hanging with `hang`, and `close` ends
 * everything, hung responses included.
 */
export abstract class LoopbackServer {
  url = '';
  private server: Server | undefined;
  private readonly hung = new Set<ServerResponse>();

  /** `basePath` is appended to the URL (`/v1` for an OpenAI-style base URL). */
  protected async listen(basePath = ''): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${basePath}`;
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** Never answer this request; `close` will end it. */
  protected hang(res: ServerResponse): void {
    this.hung.add(res);
  }

  protected abstract handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The request body as JSON, or as text when it is not JSON, or undefined when empty. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = (await readBody(req)).toString('utf8');
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}
