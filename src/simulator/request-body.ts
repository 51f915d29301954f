/**
 * Validates a request body the way OpenAI's front door does (400 with the
 * offending `param`) and estimates its token cost for the rate limiter.
 * This is the server's own validation, on in every scenario, not a fault.
 */
import { type ApiError, invalidRequest } from './errors.ts';
import type { RouteId } from './types.ts';

/** Output budget assumed when a request sets none: small, like the canned reply. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 16;
const MAX_EMBEDDING_DIMENSIONS = 3072;

export interface RequestInfo {
  model: string | undefined;
  stream: boolean;
  /** `stream_options.include_usage`: a final chunk carries usage. */
  includeUsage: boolean;
  /** ≈ characters / 4 of every message, input and instruction. */
  promptTokens: number;
  /** The output budget: `max_tokens` and friends, or the default. 0 for embeddings. */
  maxOutputTokens: number;
  /** Embeddings: the inputs as text (token arrays become a placeholder string). */
  inputs: string[];
  /** Embeddings: vector length. */
  dimensions: number;
  encodingFormat: 'float' | 'base64';
  /** Responses: `background: true`, answered `queued` and polled with `GET /responses/{id}`. */
  background?: boolean;
  /** `service_tier` as asked (any string; the answer says which tier served it). */
  serviceTier?: string;
}

export type Parsed = { ok: true; info: RequestInfo } | { ok: false; error: ApiError };

type Body = Record<string, unknown>;

const kindOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;

function missing(param: string): ApiError {
  return invalidRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
}

function wrongType(param: string, expected: string, value: unknown): ApiError {
  return invalidRequest(
    `Invalid type for '${param}': expected ${expected}, but got ${kindOf(value)} instead.`,
    param,
    'invalid_type',
  );
}

/** Characters of text anywhere in a message's or item's `content`. */
function contentChars(content: unknown): number {
  if (typeof content === 'string') return content.length;
  if (!Array.isArray(content)) return 0;
  return content.reduce<number>((sum, part) => {
    const text = (part as { text?: unknown } | null)?.text;
    return sum + (typeof text === 'string' ? text.length : 0);
  }, 0);
}

const tokensOf = (chars: number): number => Math.max(1, Math.ceil(chars / 4));

function positiveInteger(body: Body, param: string): ApiError | number | undefined {
  const value = body[param];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) return wrongType(param, 'an integer', value);
  if (value < 1) {
    return invalidRequest(
      `Invalid '${param}': integer below minimum value. Expected a value >= 1, but got ${value} instead.`,
      param,
      'integer_below_min_value',
    );
  }
  return value;
}

function common(
  body: Body,
  route: RouteId,
): ApiError | { model: string; stream: boolean; serviceTier?: string } {
  if (body.model === undefined || body.model === null || body.model === '') {
    return invalidRequest('you must provide a model parameter', 'model');
  }
  if (typeof body.model !== 'string') return wrongType('model', 'a string', body.model);
  const stream = body.stream ?? false;
  if (typeof stream !== 'boolean') return wrongType('stream', 'a boolean', stream);
  if (stream && route === 'embeddings')
    return invalidRequest('Unrecognized request argument supplied: stream', 'stream');
  const tier = typeof body.service_tier === 'string' ? { serviceTier: body.service_tier } : {};
  return { model: body.model, stream, ...tier };
}

function includeUsage(body: Body): boolean {
  const options = body.stream_options as { include_usage?: unknown } | undefined | null;
  return options?.include_usage === true;
}

function chat(body: Body): Parsed {
  const base = common(body, 'chat.completions');
  if ('error' in base) return { ok: false, error: base };
  const messages = body.messages;
  if (messages === undefined) return { ok: false, error: missing('messages') };
  if (!Array.isArray(messages)) return { ok: false, error: wrongType('messages', 'an array', messages) };
  if (messages.length === 0) {
    return {
      ok: false,
      error: invalidRequest(
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        'messages',
        'empty_array',
      ),
    };
  }
  for (const [index, message] of messages.entries()) {
    const role = (message as { role?: unknown } | null)?.role;
    if (typeof role !== 'string') return { ok: false, error: missing(`messages[${index}].role`) };
  }
  const maxCompletion = positiveInteger(body, 'max_completion_tokens');
  if (typeof maxCompletion === 'object') return { ok: false, error: maxCompletion };
  const maxTokens = positiveInteger(body, 'max_tokens');
  if (typeof maxTokens === 'object') return { ok: false, error: maxTokens };
  const chars = messages.reduce<number>((sum, message) => sum + contentChars((message as Body).content), 0);
  return {
    ok: true,
    info: {
      ...base,
      includeUsage: includeUsage(body),
      promptTokens: tokensOf(chars),
      maxOutputTokens: maxCompletion ?? maxTokens ?? DEFAULT_MAX_OUTPUT_TOKENS,
      inputs: [],
      dimensions: 0,
      encodingFormat: 'float',
    },
  };
}

function responses(body: Body): Parsed {
  const base = common(body, 'responses');
  if ('error' in base) return { ok: false, error: base };
  const input = body.input;
  if (input === undefined) return { ok: false, error: missing('input') };
  if (typeof input !== 'string' && !Array.isArray(input)) {
    return { ok: false, error: wrongType('input', 'a string or an array', input) };
  }
  const maxOutput = positiveInteger(body, 'max_output_tokens');
  if (typeof maxOutput === 'object') return { ok: false, error: maxOutput };
  const inputChars =
    typeof input === 'string'
      ? input.length
      : input.reduce<number>((sum, item) => sum + contentChars((item as Body | null)?.content), 0);
  const instructions = typeof body.instructions === 'string' ? body.instructions.length : 0;
  return {
    ok: true,
    info: {
      ...base,
      includeUsage: true,
      promptTokens: tokensOf(inputChars + instructions),
      maxOutputTokens: maxOutput ?? DEFAULT_MAX_OUTPUT_TOKENS,
      inputs: [],
      dimensions: 0,
      encodingFormat: 'float',
      ...(body.background === true ? { background: true } : {}),
    },
  };
}

function embeddings(body: Body): Parsed {
  const base = common(body, 'embeddings');
  if ('error' in base) return { ok: false, error: base };
  const input = body.input;
  if (input === undefined) return { ok: false, error: missing('input') };
  const list = typeof input === 'string' ? [input] : input;
  if (!Array.isArray(list)) return { ok: false, error: wrongType('input', 'a string or an array', input) };
  if (list.length === 0 || list.some((item) => item === '')) {
    return {
      ok: false,
      error: invalidRequest("'$.input' is invalid. Please check the API reference.", 'input'),
    };
  }
  let chars = 0;
  const inputs: string[] = [];
  for (const item of list) {
    if (typeof item === 'string') {
      chars += item.length;
      inputs.push(item);
    } else if (Array.isArray(item) && item.every((token) => typeof token === 'number')) {
      // Pre-tokenised input: each number is a token, so it costs four "characters".
      chars += item.length * 4;
      inputs.push(item.join(','));
    } else if (typeof item === 'number') {
      chars += 4;
      inputs.push(String(item));
    } else {
      return { ok: false, error: wrongType('input', 'strings or token arrays', item) };
    }
  }
  const dimensions = positiveInteger(body, 'dimensions');
  if (typeof dimensions === 'object') return { ok: false, error: dimensions };
  if (dimensions !== undefined && dimensions > MAX_EMBEDDING_DIMENSIONS) {
    return {
      ok: false,
      error: invalidRequest(
        `Invalid 'dimensions': must be at most ${MAX_EMBEDDING_DIMENSIONS}.`,
        'dimensions',
      ),
    };
  }
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    return {
      ok: false,
      error: invalidRequest(
        `Invalid value for 'encoding_format': expected 'float' or 'base64', got ${JSON.stringify(format)}.`,
        'encoding_format',
      ),
    };
  }
  return {
    ok: true,
    info: {
      ...base,
      includeUsage: false,
      promptTokens: tokensOf(chars),
      maxOutputTokens: 0,
      inputs,
      dimensions: dimensions ?? 8,
      encodingFormat: format,
    },
  };
}

const NO_BODY: RequestInfo = {
  model: undefined,
  stream: false,
  includeUsage: false,
  promptTokens: 0,
  maxOutputTokens: 0,
  inputs: [],
  dimensions: 0,
  encodingFormat: 'float',
};

export function parseRequest(route: RouteId, body: unknown): Parsed {
  if (route === 'models') return { ok: true, info: NO_BODY };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, error: invalidRequest('The request body must be a JSON object.', null) };
  }
  const record = body as Body;
  if (route === 'chat.completions') return chat(record);
  if (route === 'responses') return responses(record);
  return embeddings(record);
}
