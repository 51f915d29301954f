/**
 * A raw TCP client for talking to an HTTP server the way a broken or hostile
 * client would: any bytes, any framing, no library in between to tidy them.
 */
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RawExchange {
  /** The first non-1xx response, if the server sent one before closing. */
  response: RawResponse | undefined;
  /** Everything received, as text. */
  received: string;
  /** The socket's error, if it had one (ECONNRESET, ...). */
  error?: string;
}

/**
 * Parses the first final response out of `text`, once it has fully arrived;
 * with `closed`, whatever arrived (a status of NaN for bytes that are no response).
 */
function firstResponse(text: string, headOnly: boolean, closed = false): RawResponse | undefined {
  let rest = text;
  while (true) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return closed && rest !== '' ? { status: Number.NaN, headers: {}, body: rest } : undefined;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? Number.NaN);
    if (Number.isNaN(status)) return { status: Number.NaN, headers: {}, body: rest };
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const afterHead = rest.slice(end + 4);
    // 100 Continue and friends come before the real answer.
    if (status < 200) {
      rest = afterHead;
      continue;
    }
    if (headOnly || status < 400) return { status, headers, body: '' };
    const length = Number(headers['content-length']);
    const complete = Number.isInteger(length) && Buffer.byteLength(afterHead) >= length;
    return complete || closed ? { status, headers, body: afterHead } : undefined;
  }
}

/**
 * Connects, writes `bytes` (and half-closes when `end`), and settles once a
 * complete answer arrived (then hangs up) or the server closed the connection.
 */
export function exchange(port: number, bytes: Uint8Array | string, options: { headOnly?: boolean } = {}) {
  return new Promise<RawExchange>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    const chunks: Buffer[] = [];
    let settled = false;
    let error: string | undefined;
    const settle = (response: RawResponse | undefined) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve({ response, received: Buffer.concat(chunks).toString('latin1'), ...(error ? { error } : {}) });
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const response = firstResponse(Buffer.concat(chunks).toString('latin1'), options.headOnly ?? false);
      if (response) settle(response);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    socket.on('close', () =>
      settle(firstResponse(Buffer.concat(chunks).toString('latin1'), options.headOnly ?? false, true)),
    );
  });
}
