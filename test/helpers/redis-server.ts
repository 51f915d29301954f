import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
