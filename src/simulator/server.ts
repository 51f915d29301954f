/**
 * The HTTP side of the simulator: receives requests, asks the engine what to
 * answer, and carries the answer out. Tracks every socket so `close()` is
 * prompt even with hung requests open.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Engine, type Plan } from './engine.ts';
import { payloadTooLarge } from './errors.ts';
import { requestId } from './ids.ts';
import { resolveOptions } from './options.ts';
import { carryOut } from './respond.ts';
import { bearerKey, resolveRoute } from './routes.ts';
import { Stats } from './stats.ts';
import type { Simulator, SimulatorOptions } from './types.ts';

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

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const method = req.method ?? 'GET';
    const key = bearerKey(req.headers.authorization);
    // Count and roll the dice on arrival: that fixes the order decisions replay in.
    stats.received(resolveRoute(method, url.pathname) ?? 'unknown', key ?? '(none)');
    const arrival = engine.arrive();
    const startedAt = performance.now();

    const gone = new AbortController();
    const leave = () => gone.abort();
    res.once('close', leave);
    closing.signal.addEventListener('abort', leave, { once: true });
    try {
      let plan: Plan;
      try {
        const bodyText = await readBody(req);
        plan = engine.plan(arrival, { method, pathname: url.pathname, key, bodyText });
      } catch (error) {
        if (!(error instanceof BodyTooLarge)) throw error;
        plan = engine.refuse(arrival, key, payloadTooLarge(MAX_BODY_BYTES));
      }
      await carryOut(plan, { req, res, signal: gone.signal, requestId: requestId(), startedAt, stats });
    } catch {
      // The client vanished mid-read, or a write raced a close: nothing left to answer.
      res.destroy();
    } finally {
      closing.signal.removeEventListener('abort', leave);
    }
  });
  // Hung requests must outlive Node's default request timeouts.
  server.requestTimeout = 0;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
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
