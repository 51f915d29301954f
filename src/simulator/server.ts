/**
 * The HTTP side of the simulator: receives requests, asks the engine what to
 * answer, and carries the answer out. Tracks every socket so `close()` is
 * prompt even with hung requests open. Slow or malformed clients get a
 * timeout or a 4xx (wire-guard.ts), never a crash.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Engine, type Plan } from './engine.ts';
import { type ApiError, payloadTooLarge, serverError } from './errors.ts';
import { requestId } from './ids.ts';
import { resolveOptions } from './options.ts';
import { carryOut } from './respond.ts';
import { bearerKey, resolveRoute } from './routes.ts';
import { Stats } from './stats.ts';
import type { Simulator, SimulatorOptions } from './types.ts';
import { answerClientError, expectationFailed, pathOf } from './wire-guard.ts';

/** Bodies past this are refused with 413 rather than buffered. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function closeIdle(this: Socket): void {
  this.destroy();
}

function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === 'EADDRINUSE'
          ? `port ${port} on ${host} is already in use`
          : error.code === 'EACCES'
            ? `no permission to listen on port ${port} on ${host}`
            : error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND'
              ? `address ${host} is not available on this machine`
              : error.message;
      reject(Object.assign(new Error(`Cannot start the simulator: ${reason}`), { code: error.code }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const config = resolveOptions(options);
  const engine = new Engine(config);
  const stats = new Stats();
  const closing = new AbortController();
  const sockets = new Set<Socket>();
  const { headersMs, requestMs, keepAliveMs } = config.timeouts;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const key = bearerKey(req.headers.authorization);
    const target = pathOf(req.url ?? '/');
    const pathname = 'pathname' in target ? target.pathname : undefined;
    // Count and roll the dice on arrival: that fixes the order decisions replay in.
    stats.received((pathname !== undefined && resolveRoute(method, pathname)) || 'unknown', key ?? '(none)');
    const arrival = engine.arrive();
    const startedAt = performance.now();

    const gone = new AbortController();
    const leave = () => gone.abort();
    res.once('close', leave);
    closing.signal.addEventListener('abort', leave, { once: true });
    try {
      let bodyText: string | undefined;
      try {
        bodyText = await readBody(req);
      } catch (error) {
        // The client vanished mid-read: nothing left to answer.
        if (!(error instanceof BodyTooLarge)) return void res.destroy();
      }
      let plan: Plan;
      try {
        plan =
          bodyText === undefined
            ? engine.refuse(arrival, key, payloadTooLarge(MAX_BODY_BYTES))
            : pathname === undefined
              ? engine.refuse(arrival, key, (target as { error: ApiError }).error)
              : engine.plan(arrival, { method, pathname, key, bodyText });
      } catch {
        // A request the engine cannot make sense of is still answered, as a gateway would.
        plan = engine.refuse(arrival, key, serverError(500));
      }
      await carryOut(plan, { req, res, signal: gone.signal, requestId: requestId(), startedAt, stats });
    } catch {
      // A write raced a close: nothing left to answer.
      res.destroy();
    } finally {
      closing.signal.removeEventListener('abort', leave);
    }
  }

  const server = createServer(
    {
      headersTimeout: headersMs,
      // Bounds receiving the request only: answers, hang faults included, may take as long as they like.
      requestTimeout: requestMs,
      keepAliveTimeout: keepAliveMs,
      // Answer a request without Host through the engine (Node's own 400 would have no OpenAI body).
      requireHostHeader: false,
      // Node checks the two timeouts above on this interval (30 s by default): check often enough to matter.
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(headersMs / 2))),
    },
    (req, res) => {
      // Past the headers: the request timeout takes over from the idle timer set on connect.
      req.socket.setTimeout(0);
      req.socket.off('timeout', closeIdle);
      handle(req, res).catch(() => res.destroy());
    },
  );
  server.on('clientError', answerClientError);
  // An Expect other than 100-continue: Node's own 417 has no body; give it OpenAI's.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const body = JSON.stringify({ error: expectationFailed().error });
    res.writeHead(417, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // Backstop for a connection that never sends a byte, should Node's header timer not cover it:
    // closed unanswered, and only after Node's own timers had every chance to answer 408 first.
    socket.setTimeout(headersMs + requestMs, closeIdle);
  });

  await listen(server, config.port, config.host);
  const { port } = server.address() as AddressInfo;
  const hostInUrl = config.host.includes(':') ? `[${config.host}]` : config.host;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${hostInUrl}:${port}/v1`,
    port,
    host: config.host,
    seed: config.seed,
    scenario: config.scenario,
    stats: () => stats.snapshot(),
    resetStats: () => stats.clear(),
    phase: () => engine.phase(),
    setPhase: (name) => engine.setPhase(name),
    close() {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}
