/**
 * Failures of the connection itself that surface after the headers, where the
 * SDK does not wrap them: undici's `TypeError: terminated` (cause
 * `UND_ERR_SOCKET`) when the socket closes mid-body or before a stream's
 * first event. The policy should see them as what they are, connection errors.
 */
import type { AttemptFailure } from '../policy/types.ts';
import { failureFrom } from './extract.ts';

const SOCKET_CODES = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Whether `error`, or one of its causes, is the socket closing under a response. */
export function isSocketFailure(error: unknown): boolean {
  let current = error;
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && SOCKET_CODES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** `failureFrom`, with a socket failure after the headers counted as a connection error. */
export function failureOf(error: unknown, afterFirstChunk = false): AttemptFailure {
  const failure = failureFrom(error, afterFirstChunk);
  return failure.transport === undefined && failure.status === undefined && isSocketFailure(error)
    ? { ...failure, transport: 'connection' }
    : failure;
}
