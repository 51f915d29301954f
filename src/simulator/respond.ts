/**
 * Carries out a `Plan` on the wire: writes JSON, streams frames with pauses,
 * resets the connection or leaves it hanging. Every wait gives way to the
 * request's signal, which fires when the client leaves or the server closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Plan } from './engine.ts';
import { baseHeaders, type Headers } from './headers.ts';
import type { Stats } from './stats.ts';

export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  /** Aborted when the client goes away or the simulator closes. */
  signal: AbortSignal;
  requestId: string;
  /** `performance.now()` when the request arrived, for `openai-processing-ms`. */
  startedAt: number;
  stats: Stats;
}

/** Resolves true after `ms` (never, for `Infinity`), or false as soon as `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    // setTimeout turns anything past 2^31-1 ms (Infinity included) into 1 ms.
    const timer =
      Number.isFinite(ms) && ms < 2 ** 31
        ? setTimeout(() => {
            signal.removeEventListener('abort', onAbort);
            resolve(true);
          }, ms)
        : undefined;
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function head(exchange: Exchange, status: number, headers: Headers, extra: Headers): void {
  exchange.res.writeHead(status, {
    ...headers,
    ...baseHeaders(exchange.requestId, performance.now() - exchange.startedAt),
    ...extra,
  });
  exchange.stats.answered(status);
}

export async function carryOut(plan: Plan, exchange: Exchange): Promise<void> {
  const { res, signal, stats } = exchange;

  if (plan.kind === 'reset') {
    stats.reset();
    // RST rather than FIN: the client sees ECONNRESET, as from a dying proxy.
    exchange.req.socket.resetAndDestroy();
    return;
  }
  if (plan.kind === 'hang') {
    stats.hang();
    await pause(Number.POSITIVE_INFINITY, signal);
    res.destroy();
    return;
  }

  if (!(await pause(plan.delayMs, signal))) {
    res.destroy();
    return;
  }

  if (plan.kind === 'json' || plan.kind === 'malformed') {
    const text = plan.kind === 'json' ? JSON.stringify(plan.body) : plan.text;
    head(exchange, plan.kind === 'json' ? plan.status : 200, plan.headers, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
    });
    res.end(text);
    return;
  }

  head(exchange, 200, plan.headers, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
  });
  if (plan.broken) stats.streamError();
  for (const [index, frame] of plan.frames.entries()) {
    if (index > 0 && !(await pause(plan.chunkDelayMs, signal))) {
      res.destroy();
      return;
    }
    res.write(frame);
  }
  res.end();
}
