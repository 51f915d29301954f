/**
 * Reads what telemetry and policy need out of the SDK's shapes: requests,
 * responses, stream chunks and errors. The only module besides the wrapper
 * that knows what the `openai` package's objects look like.
 */
import OpenAI from 'openai';
import { MAX_FINISH_REASONS, type ResponseFacts, type Usage } from '../observer.ts';
import { isRecord } from '../policy/is-record.ts';
import type { AttemptFailure } from '../policy/types.ts';
import { InBandAnswer } from './call-types.ts';

export type { ResponseFacts };

export interface RequestInfo {
  operationName: string;
  api: string;
  model?: string;
  stream: boolean;
}

/** `api` is `openai.api.type`: the pin's values for Chat and Responses, the endpoint's name for others. */
const APIS: Readonly<Record<string, { api: string; operation: string }>> = {
  '/chat/completions': { api: 'chat_completions', operation: 'chat' },
  // The GenAI conventions have no separate value for the Responses API: it is a chat inference.
  '/responses': { api: 'responses', operation: 'chat' },
  '/embeddings': { api: 'embeddings', operation: 'embeddings' },
  '/completions': { api: 'completions', operation: 'text_completion' },
};

/** `responses.retrieve(id)`: reading a stored (or background) response back. */
export const FETCH_RESPONSE = 'fetch_response';
const RESPONSE_BY_ID = /^\/responses\/[^/]+$/;

export function describeRequest(method: string, path: string, body: unknown): RequestInfo {
  const b = isRecord(body) ? body : {};
  const known =
    method === 'post'
      ? APIS[path]
      : method === 'get' && RESPONSE_BY_ID.test(path)
        ? { api: 'responses', operation: FETCH_RESPONSE }
        : undefined;
  // Other endpoints are named by their first path segment only: ids must never become labels.
  const segment = path.split('/').find((s) => s !== '') ?? 'root';
  return {
    operationName: known?.operation ?? segment,
    api: known?.api ?? segment,
    ...(typeof b.model === 'string' && b.model !== '' ? { model: b.model } : {}),
    stream: b.stream === true,
  };
}

/** Only the response headers the policy reads; nothing else is ever copied. */
const POLICY_HEADERS = [
  'retry-after',
  'retry-after-ms',
  'x-should-retry',
  'x-request-id',
  'x-ratelimit-limit-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-requests',
  'x-ratelimit-reset-tokens',
];

export function pickHeaders(headers: Headers | undefined | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers || typeof headers.get !== 'function') return out;
  for (const name of POLICY_HEADERS) {
    const value = headers.get(name);
    if (value !== null) out[name] = value;
  }
  return out;
}

/** The SDK error class name, as `error.type` reports it. */
export function errorTypeOf(error: unknown): string {
  if (error instanceof InBandAnswer) return error.errorType;
  if (error instanceof Error) return error.constructor?.name || error.name || 'Error';
  return '_OTHER';
}

/** Reduces an SDK error to the plain facts the policy decides on. */
export function failureFrom(error: unknown, afterFirstChunk = false): AttemptFailure {
  if (error instanceof OpenAI.APIUserAbortError) return { transport: 'aborted' };
  if (error instanceof OpenAI.APIConnectionTimeoutError) return { transport: 'timeout' };
  if (error instanceof OpenAI.APIConnectionError) return { transport: 'connection' };
  if (error instanceof OpenAI.APIError) {
    const body = isRecord(error.error) ? error.error : {};
    return {
      ...(typeof error.status === 'number' ? { status: error.status } : {}),
      ...(typeof error.code === 'string' ? { code: error.code } : {}),
      ...(typeof error.type === 'string' ? { type: error.type } : {}),
      message: typeof body.message === 'string' ? body.message : error.message,
      headers: pickHeaders(error.headers),
      afterFirstChunk,
    };
  }
  if (isAbort(error)) return { transport: 'aborted' };
  // A body that does not parse is the server's fault and worth another try.
  if (error instanceof SyntaxError) return { malformed: true, afterFirstChunk };
  return { afterFirstChunk };
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'APIUserAbortError');
}

/** What a finished response says about itself. */
export function factsFromBody(data: unknown): ResponseFacts {
  if (!isRecord(data)) return {};
  const facts: ResponseFacts = {};
  if (typeof data.model === 'string') facts.responseModel = data.model;
  if (typeof data.id === 'string') facts.responseId = data.id;
  const usage = usageFrom(data.usage);
  if (usage) facts.usage = usage;
  noteService(facts, data);
  if (Array.isArray(data.choices)) {
    const reasons: string[] = [];
    for (const c of data.choices) {
      if (reasons.length === MAX_FINISH_REASONS) break;
      if (isRecord(c) && typeof c.finish_reason === 'string') reasons.push(c.finish_reason);
    }
    if (reasons.length) facts.finishReasons = reasons;
  }
  return facts;
}

/**
 * Chat usage (`prompt_tokens`, `completion_tokens` and their `*_details`) and Responses usage
 * (`input_tokens`, `output_tokens` and theirs) alike; embeddings report `prompt_tokens` only.
 */
export function usageFrom(usage: unknown): Usage | undefined {
  if (!isRecord(usage)) return undefined;
  const input = num(usage.input_tokens) ?? num(usage.prompt_tokens);
  const output = num(usage.output_tokens) ?? num(usage.completion_tokens);
  if (input === undefined && output === undefined) return undefined;
  const inputDetails = usage.input_tokens_details ?? usage.prompt_tokens_details;
  const outputDetails = usage.output_tokens_details ?? usage.completion_tokens_details;
  const cached = isRecord(inputDetails) ? num(inputDetails.cached_tokens) : undefined;
  const reasoning = isRecord(outputDetails) ? num(outputDetails.reasoning_tokens) : undefined;
  const written = isRecord(inputDetails) ? num(inputDetails.cache_write_tokens) : undefined;
  return {
    ...(input !== undefined ? { inputTokens: input } : {}),
    ...(output !== undefined ? { outputTokens: output } : {}),
    ...(cached !== undefined ? { cachedInputTokens: cached } : {}),
    ...(reasoning !== undefined ? { reasoningTokens: reasoning } : {}),
    ...(written !== undefined ? { cacheWriteInputTokens: written } : {}),
  };
}

/**
 * A stream item that carries output: a chat chunk with content, a refusal or a tool call in a
 * delta, or a Responses `*.delta` event. About one token each, as OpenAI streams them.
 */
export function carriesOutput(item: unknown): boolean {
  if (!isRecord(item)) return false;
  if (typeof item.type === 'string') return item.type.startsWith('response.') && item.type.endsWith('.delta');
  if (!Array.isArray(item.choices)) return false;
  return item.choices.some((c) => {
    const d = isRecord(c) && isRecord(c.delta) ? c.delta : undefined;
    return !!d && (!!d.content || !!d.refusal || (Array.isArray(d.tool_calls) && d.tool_calls.length > 0));
  });
}

/** The tier that served the call and the backend's fingerprint, when the response names them. */
function noteService(facts: ResponseFacts, data: Record<string, unknown>): void {
  if (typeof data.service_tier === 'string' && data.service_tier) facts.serviceTier = data.service_tier;
  if (typeof data.system_fingerprint === 'string' && data.system_fingerprint)
    facts.systemFingerprint = data.system_fingerprint;
}

/** Folds one stream item (a chat chunk or a Responses event) into the facts gathered so far. */
export function observeStreamItem(facts: ResponseFacts, item: unknown): void {
  if (!isRecord(item)) return;
  if (typeof item.type === 'string' && item.type.startsWith('response.')) {
    if (isRecord(item.response)) Object.assign(facts, definedOnly(factsFromBody(item.response)));
    return;
  }
  if (typeof item.model === 'string') facts.responseModel = item.model;
  if (typeof item.id === 'string') facts.responseId = item.id;
  const usage = usageFrom(item.usage);
  if (usage) facts.usage = usage;
  noteService(facts, item);
  if (Array.isArray(item.choices)) noteFinishReasons(facts, item.choices);
}

/** Where each choice's finish reason sits in a `finishReasons` list being built from a stream. */
const reasonSlots = new WeakMap<string[], Map<number, number>>();

/**
 * One finish reason per choice, updated in place: a stream may repeat a
 * choice's reason on every chunk, and the list neither grows nor is rebuilt.
 * At most {@link MAX_FINISH_REASONS} choices are tracked.
 */
function noteFinishReasons(facts: ResponseFacts, choices: unknown[]): void {
  for (const choice of choices) {
    if (!isRecord(choice) || typeof choice.finish_reason !== 'string') continue;
    const index = typeof choice.index === 'number' ? choice.index : 0;
    facts.finishReasons ??= [];
    const reasons = facts.finishReasons;
    let slots = reasonSlots.get(reasons);
    if (!slots) {
      slots = new Map();
      reasonSlots.set(reasons, slots);
    }
    const slot = slots.get(index);
    if (slot !== undefined) reasons[slot] = choice.finish_reason;
    else if (reasons.length < MAX_FINISH_REASONS) {
      slots.set(index, reasons.length);
      reasons.push(choice.finish_reason);
    }
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
