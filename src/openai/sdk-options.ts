/** The SDK's own request options, read the way the SDK reads them. */
import type OpenAI from 'openai';

/**
 * A `maxRetries` the SDK would honour: a non-negative safe integer. Anything
 * else (`2.5`, `-1`, `'3'`) the SDK replaces with its default, so retryscope
 * treats it as not given and its own `maxAttempts` stands.
 */
export function sdkRetries(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

const RETRY_COUNT = 'x-stainless-retry-count';

export function defaultHeadersOf(client: OpenAI): unknown {
  return (client as unknown as { _options?: { defaultHeaders?: unknown } })._options?.defaultHeaders;
}

/**
 * Adds the SDK's own retry-count header, unless the caller set one (per call or
 * in `defaultHeaders`): the SDK sends the caller's as given, and so do we.
 */
export function withRetryCount(headers: unknown, retries: number, defaults: unknown): unknown {
  if (hasHeader(headers, RETRY_COUNT) || hasHeader(defaults, RETRY_COUNT)) return headers;
  const value = String(retries);
  if (headers == null) return { [RETRY_COUNT]: value };
  if (headers instanceof Headers) {
    const copy = new Headers(headers);
    copy.set(RETRY_COUNT, value);
    return copy;
  }
  if (Array.isArray(headers)) return [...headers, [RETRY_COUNT, value]];
  if (typeof headers === 'object') return { ...headers, [RETRY_COUNT]: value };
  return headers;
}

/** Whether a headers value of any shape the SDK accepts names `name` (a null value, which removes it, counts). */
function hasHeader(headers: unknown, name: string): boolean {
  if (headers == null || typeof headers !== 'object') return false;
  if (headers instanceof Headers) return headers.has(name);
  const entries: unknown[] = Array.isArray(headers) ? headers : Object.keys(headers).map((k) => [k]);
  return entries.some((e) => Array.isArray(e) && typeof e[0] === 'string' && e[0].toLowerCase() === name);
}

/**
 * The SDK's own test for a body it will not retry (client.js, `hasStreamingBody`): a
 * ReadableStream, an async iterable, or an iterator, each consumed by the first send.
 */
export function hasStreamingBody(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false;
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) return true;
  if (Symbol.asyncIterator in body) return true;
  return Symbol.iterator in body && typeof (body as { next?: unknown }).next === 'function';
}
