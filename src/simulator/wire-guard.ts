/**
 * What the simulator does with requests it cannot hand to the engine: a
 * request line or header Node's parser rejects, a client too slow to finish
 * its request, a path that does not decode. Every such case gets an
 * OpenAI-shaped JSON error and a closed connection, never a crash.
 */
import type { Socket } from 'node:net';
import { type ApiError, invalidRequest } from './errors.ts';
import type { WireTimeouts } from './types.ts';

export const DEFAULT_WIRE_TIMEOUTS: WireTimeouts = {
  headersMs: 10_000,
  requestMs: 30_000,
  keepAliveMs: 5_000,
};

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
};

const refused = (status: number, message: string): ApiError => ({
  status,
  error: { message, type: 'invalid_request_error', param: null, code: null },
});

/** The status and OpenAI error body for a failure of Node's HTTP parser or its timers. */
export function parserError(code: string | undefined): ApiError {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return refused(408, 'The request took too long to arrive.');
  if (code === 'HPE_HEADER_OVERFLOW') return refused(431, 'The request headers are too large.');
  return refused(400, 'The request is not valid HTTP/1.1.');
}

export const expectationFailed = (): ApiError =>
  refused(417, 'Only the 100-continue expectation is supported.');

/** A complete HTTP/1.1 response for a socket whose request never reached a handler. */
export function rawErrorResponse(error: ApiError): string {
  const body = JSON.stringify({ error: error.error });
  return [
    `HTTP/1.1 ${error.status} ${STATUS_TEXT[error.status] ?? 'Error'}`,
    'content-type: application/json',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Answers a request Node's parser refused, if nothing was written on the
 * socket yet, then closes it; a socket already mid-answer is just closed.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable || socket.bytesWritten > 0) {
    socket.destroy();
    return;
  }
  socket.end(rawErrorResponse(parserError(error.code)), () => socket.destroy());
}

/**
 * The path of a request target, or an error for one that cannot be a path.
 * Takes origin-form (`/v1/models?x`) and absolute-form (`http://host/v1/models`),
 * and insists the path percent-decodes, so no route handler meets a bad escape.
 */
export function pathOf(target: string): { pathname: string } | { error: ApiError } {
  let pathname: string;
  if (target.startsWith('/')) {
    pathname = target.split(/[?#]/, 1)[0]!;
  } else {
    try {
      pathname = new URL(target).pathname;
    } catch {
      return { error: invalidRequest('The request target is not a path or an absolute URL.', null) };
    }
  }
  try {
    decodeURIComponent(pathname);
  } catch {
    return { error: invalidRequest('The request path has an invalid percent-encoding.', null) };
  }
  return { pathname };
}
