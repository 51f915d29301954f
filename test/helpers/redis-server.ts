import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { ScriptedServer } from './scripted-server.ts';

/**
 * A real redis-server on a free loopback port, from scripts/install-test-deps.sh
 * (.cache/test-deps/redis, Debian's package with its libraries) or
 * RETRYSCOPE_REDIS_SERVER. `found` is false when neither exists.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const installed = join(root, '.cache', 'test-deps', 'redis', 'usr', 'bin', 'redis-server');
export const redisServerPath = process.env.RETRYSCOPE_REDIS_SERVER ?? installed;
export const redisFound = existsSync(redisServerPath);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export class RedisServer {
  port = 0;
  private child: ChildProcess | undefined;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (or restarts, empty) on its port; resolves once it accepts connections. */
  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    // Debian's binary links libjemalloc2 and liblzf1, unpacked beside it.
    const lib = join(dirname(redisServerPath), '..', 'lib', 'x86_64-linux-gnu');
    const child = spawn(
      redisServerPath,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { env: { ...process.env, LD_LIBRARY_PATH: lib }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out.slice(-500)}`)));
    });
    return this;
  }

  /** Kills it; resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    // Killed by a signal, a process has no exit code: its signal says it is gone.
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }
}

/**
 * Runs `body` on a redis-server of its own (to kill, pause or restart), with the process
 * warnings emitted meanwhile; the server is resumed and killed after, whatever happened.
 */
export async function withOwnRedis(
  body: (own: RedisServer, warnings: string[]) => Promise<void>,
): Promise<void> {
  const own = await new RedisServer().start();
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    await body(own, warnings);
  } finally {
    process.off('warning', onWarning);
    own.resume();
    await own.kill();
  }
}

/**
 * A test file's redis-server and scripted loopback server, started before its tests and
 * stopped after. No silent skip: without redis-server the file fails with one line that
 * says how to get it.
 */
export function redisAndServer(): { readonly redis: RedisServer; readonly server: ScriptedServer } {
  if (!redisFound) {
    throw new Error(
      `redis-server not found at ${redisServerPath}: run \`bash scripts/install-test-deps.sh\` (npm test runs it first) or set RETRYSCOPE_REDIS_SERVER`,
    );
  }
  const started: { redis?: RedisServer; server?: ScriptedServer } = {};
  beforeAll(async () => {
    started.redis = await new RedisServer().start();
    started.server = await new ScriptedServer().start();
  });
  afterAll(async () => {
    await started.redis?.kill();
    await started.server?.close();
  });
  return {
    get redis() {
      return started.redis!;
    },
    get server() {
      return started.server!;
    },
  };
}
