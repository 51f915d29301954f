import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { SHARED_ADMIT_LUA, type SharedAdmission, type SharedAdmit } from '../policy/shared-bucket.ts';
import { type BucketStore, type StoreBucket, storeKeys } from '../policy/store.ts';

/**
 * The Redis adapter of the policy's BucketStore: one EVALSHA per call on the
 * hot path. It speaks RESP itself over one socket (a URL), or drives a
 * client the caller already has: node-redis (`evalSha`) or ioredis
 * (`evalsha`), duck-typed, so no Redis library is a dependency.
 */
export type RedisClientLike =
  | {
      evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
      eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
    }
  | {
      evalsha(sha: string, numKeys: number, ...args: string[]): Promise<unknown>;
      eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
    };

/** A Lua script and its SHA-1, as EVALSHA names it. */
export interface LuaScript {
  source: string;
  sha: string;
}

export function luaScript(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const ADMIT = luaScript(SHARED_ADMIT_LUA);
// Idle buckets expire: an hour past the last booking, nothing is left of them.
const IDLE_MS = 3_600_000;

export function isRedisClient(value: unknown): value is RedisClientLike {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.eval === 'function' && (typeof v.evalSha === 'function' || typeof v.evalsha === 'function');
}

export class RedisStore implements BucketStore {
  /** Runs a Lua script (EVALSHA, then EVAL if Redis does not know it yet). */
  readonly script: (script: LuaScript, keys: string[], args: string[]) => Promise<unknown>;
  private readonly closer: () => Promise<void>;

  constructor(target: string | RedisClientLike, prefix = 'retryscope') {
    this.prefix = prefix;
    if (typeof target === 'string') {
      const conn = new RespConnection(target);
      this.script = (lua, keys, args) => conn.script(lua.source, lua.sha, keys, args);
      this.closer = () => conn.close();
    } else {
      this.script = (lua, keys, args) => runOnClient(target, lua, keys, args);
      // The caller's client is the caller's to close.
      this.closer = async () => {};
    }
  }

  readonly prefix: string;

  private run(keys: string[], args: string[]): Promise<unknown> {
    return this.script(ADMIT, keys, args);
  }

  async admit(bucket: StoreBucket, input: SharedAdmit): Promise<SharedAdmission> {
    const reply = await this.run(storeKeys(bucket, this.prefix), [
      'admit',
      String(input.now),
      String(input.tokens),
      String(input.rpm),
      String(input.tpm),
      String(input.burstMs),
      String(Number.isFinite(input.maxWaitMs) ? input.maxWaitMs : 1e15),
      String(IDLE_MS),
      String(input.seen?.atMs ?? 0),
      String(input.seen?.requests ?? -1),
      String(input.seen?.tokens ?? -1),
      String(input.blind?.count ?? 0),
      String(input.blind?.lastAt ?? 0),
    ]);
    const [kind, ms] = parseReply(reply);
    if (kind === 1) return { ok: false, reason: 'quota', untilMs: ms };
    if (kind === 2) return { ok: false, reason: 'deadline', waitMs: ms };
    return { ok: true, waitMs: ms };
  }

  pause(bucket: StoreBucket, now: number, until: number): Promise<void> {
    return this.mark('pause', bucket, now, until);
  }

  exhaust(bucket: StoreBucket, now: number, until: number): Promise<void> {
    return this.mark('quota', bucket, now, until);
  }

  /** A flag with an end time (the script's `pause` and `quota` operations): only ever extended. */
  private async mark(op: 'pause' | 'quota', bucket: StoreBucket, now: number, until: number): Promise<void> {
    const unused = ['0', '0', '0', '0'];
    await this.run(storeKeys(bucket, this.prefix), [
      op,
      String(now),
      String(until),
      ...unused,
      String(IDLE_MS),
    ]);
  }

  close(): Promise<void> {
    return this.closer();
  }
}

function parseReply(reply: unknown): [number, number] {
  if (!Array.isArray(reply) || reply.length < 2)
    throw new Error('retryscope: unexpected reply from the Redis limiter script');
  return [Number(reply[0]), Number(reply[1])];
}

async function runOnClient(
  client: RedisClientLike,
  lua: LuaScript,
  keys: string[],
  args: string[],
): Promise<unknown> {
  const noScript = (e: unknown) => /NOSCRIPT/.test(String((e as Error)?.message ?? e));
  if ('evalSha' in client) {
    try {
      return await client.evalSha(lua.sha, { keys, arguments: args });
    } catch (e) {
      if (!noScript(e)) throw e;
      return client.eval(lua.source, { keys, arguments: args });
    }
  }
  try {
    return await client.evalsha(lua.sha, keys.length, ...keys, ...args);
  } catch (e) {
    if (!noScript(e)) throw e;
    return client.eval(lua.source, keys.length, ...keys, ...args);
  }
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/**
 * The least of RESP2 a script needs: AUTH/SELECT from the URL, EVALSHA with
 * an EVAL on NOSCRIPT, replies in order. Reconnects on the next command
 * after a failure; a command on a dead socket rejects at once.
 */
export class RespConnection {
  private socket: Socket | undefined;
  private ready: Promise<void> | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private readonly queue: Pending[] = [];
  private readonly url: URL;

  constructor(url: string) {
    this.url = new URL(url);
    if (this.url.protocol !== 'redis:')
      throw new TypeError('limiter.redis must be a redis:// URL or a Redis client');
  }

  async script(script: string, sha: string, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.command(['EVALSHA', sha, String(keys.length), ...keys, ...args]);
    } catch (e) {
      if (!/NOSCRIPT/.test((e as Error).message)) throw e;
      return this.command(['EVAL', script, String(keys.length), ...keys, ...args]);
    }
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    this.socket = undefined;
    this.ready = undefined;
  }

  async command(parts: string[]): Promise<unknown> {
    if (!this.ready) this.ready = this.open();
    await this.ready;
    return this.send(parts);
  }

  private send(parts: string[]): Promise<unknown> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.reject(new Error('redis connection closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject });
      // Held while a reply is awaited; an idle connection must not keep the process alive.
      socket.ref();
      socket.write(encode(parts));
    });
  }

  private open(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const socket = connect({ host: this.url.hostname || '127.0.0.1', port: Number(this.url.port || 6379) });
      socket.setNoDelay(true);
      this.socket = socket;
      this.buffer = Buffer.alloc(0);
      const fail = (error: Error) => {
        this.ready = undefined;
        if (this.socket === socket) this.socket = undefined;
        socket.destroy();
        for (const p of this.queue.splice(0)) p.reject(error);
        reject(error);
      };
      socket.once('error', fail);
      socket.once('close', () => fail(new Error('redis connection closed')));
      socket.on('data', (chunk) => this.receive(chunk));
      socket.once('connect', () => {
        const setup: Promise<unknown>[] = [];
        const password = decodeURIComponent(this.url.password);
        const user = decodeURIComponent(this.url.username);
        if (password) setup.push(this.send(user ? ['AUTH', user, password] : ['AUTH', password]));
        const db = this.url.pathname.replace('/', '');
        if (db) setup.push(this.send(['SELECT', db]));
        Promise.all(setup).then(
          () => resolve(),
          (e) => fail(e as Error),
        );
      });
    });
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      const parsed = decode(this.buffer, 0);
      if (!parsed) return;
      this.buffer = this.buffer.subarray(parsed.end);
      const pending = this.queue.shift();
      if (this.queue.length === 0) this.socket?.unref();
      if (!pending) continue;
      if (parsed.value instanceof Error) pending.reject(parsed.value);
      else pending.resolve(parsed.value);
    }
  }
}

function encode(parts: string[]): Buffer {
  const chunks = [`*${parts.length}\r\n`];
  for (const p of parts) chunks.push(`$${Buffer.byteLength(p)}\r\n${p}\r\n`);
  return Buffer.from(chunks.join(''));
}

/** One RESP2 value from `buf` at `at`, or undefined when it has not all arrived. */
function decode(buf: Buffer, at: number): { value: unknown; end: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new Error(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return undefined;
      return { value: buf.toString('utf8', next, next + n), end: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items: unknown[] = [];
      let end = next;
      for (let i = 0; i < n; i++) {
        const item = decode(buf, end);
        if (!item) return undefined;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      return { value: new Error(`unexpected RESP type ${type}`), end: next };
  }
}
