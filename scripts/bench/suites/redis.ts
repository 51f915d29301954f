/**
 * The benchmark's redis-server (the tests' starter: .cache/test-deps or
 * RETRYSCOPE_REDIS_SERVER) and the few INFO figures the suites read.
 */
import type { RespConnection } from '../../../src/openai/redis-store.ts';
import { RedisServer, redisFound, redisServerPath } from '../../../test/helpers/redis-server.ts';

export async function startRedis(suite: string): Promise<RedisServer> {
  if (!redisFound)
    throw new Error(
      `${suite}: redis-server not found at ${redisServerPath}: run \`bash scripts/install-test-deps.sh\` or set RETRYSCOPE_REDIS_SERVER`,
    );
  return new RedisServer().start();
}

/** A numeric field of an INFO section's text (0 when absent). */
export function infoField(text: string, field: string): number {
  const match = new RegExp(`^${field}:(\\S+)`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

/** Calls of one command, from INFO commandstats text. */
export function commandCalls(stats: string, command: string): number {
  const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats);
  return match ? Number(match[1]) : 0;
}

/** Limiter-script calls (EVALSHA, and EVAL on NOSCRIPT) so far. */
export async function scriptCalls(conn: RespConnection): Promise<number> {
  const stats = String(await conn.command(['INFO', 'commandstats']));
  return commandCalls(stats, 'evalsha') + commandCalls(stats, 'eval');
}
