import { contextWindowFor } from './context-windows.ts';
import { estimateTokens, utf8Length } from './token-estimate.ts';

/** Why the API would answer 400, named as OpenAI names it. */
export interface ValidationProblem {
  /** The field at fault, in OpenAI's notation: `model`, `messages[2].role`, `input[0]`. */
  param: string;
  message: string;
  code:
    | 'missing_required_parameter'
    | 'invalid_value'
    | 'context_length_exceeded'
    | 'empty_array'
    | 'invalid_type';
}

export interface ValidateOptions {
  /** Context windows merged over `CONTEXT_WINDOWS`; `Infinity` switches a model's check off. */
  contextWindows?: Readonly<Record<string, number>>;
}

/**
 * Finds what the OpenAI API would refuse with a 400 before the request is
 * sent, so that it costs no round trip, no rate-limit slot and no trace.
 *
 * It refuses only what the API would refuse, erring the other way when in
 * doubt: a request it lets through may still fail there (tool schemas,
 * images, model-specific limits), and token counts are estimates that run low
 * rather than high. The one addition is NaN and Infinity in numeric fields,
 * which JSON would silently send as null. Unknown fields are fine, `api`
 * values it does not know are not checked, and it never throws.
 */
export function validateRequest(
  api: string,
  body: unknown,
  options?: ValidateOptions,
): ValidationProblem | undefined {
  try {
    if (!Object.hasOwn(VALIDATORS, api)) return undefined;
    if (!isRecord(body)) return wrongType('body', 'an object', body);
    return VALIDATORS[api]!(body, options?.contextWindows);
  } catch {
    // A getter or a Proxy that throws: the server is the judge of such a body.
    return undefined;
  }
}

type Body = Readonly<Record<string, unknown>>;
type Windows = Readonly<Record<string, number>> | undefined;
type Problem = ValidationProblem | undefined;

const VALIDATORS: Readonly<Record<string, (body: Body, windows: Windows) => Problem>> = {
  'chat.completions': (body, windows) =>
    checkModel(body) ??
    checkMessages(body.messages) ??
    checkRanges(body, CHAT_RANGES) ??
    chatContext(body, windows),
  // A stored prompt can carry the model and the input; a previous response or a conversation, the input.
  responses: (body, windows) =>
    checkModel(body, body.prompt == null) ??
    checkResponsesInput(body.input, !hasContext(body)) ??
    checkRanges(body, RESPONSES_RANGES) ??
    responsesContext(body, windows),
  embeddings: (body, windows) =>
    checkModel(body) ?? checkEmbeddingsInput(body.input) ?? embeddingsContext(body, windows),
  completions: (body, windows) =>
    checkModel(body) ?? checkRanges(body, COMPLETIONS_RANGES) ?? completionsContext(body, windows),
};

// --- model ---

function checkModel(body: Body, required = true): Problem {
  const model = body.model;
  if (model == null || model === '') return required ? missing('model') : undefined;
  if (typeof model !== 'string') return wrongType('model', 'a string', model);
  return undefined;
}

// --- chat messages ---

const ROLES: ReadonlySet<unknown> = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

function checkMessages(messages: unknown): Problem {
  if (messages == null) return missing('messages');
  if (!Array.isArray(messages)) return wrongType('messages', 'an array', messages);
  if (messages.length === 0) return emptyArray('messages');
  for (let i = 0; i < messages.length; i++) {
    const problem = checkMessage(messages[i], `messages[${i}]`);
    if (problem) return problem;
  }
  return undefined;
}

function checkMessage(message: unknown, at: string): Problem {
  if (!isRecord(message)) return wrongType(at, 'an object', message);
  const role = message.role;
  if (role == null) return missing(`${at}.role`);
  if (!ROLES.has(role)) {
    if (typeof role !== 'string') return wrongType(`${at}.role`, 'a string', role);
    return {
      param: `${at}.role`,
      code: 'invalid_value',
      message: `Invalid value: '${clip(role)}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`,
    };
  }
  const content = message.content;
  switch (role) {
    case 'assistant': {
      const calls = message.tool_calls;
      if (Array.isArray(calls) && calls.length === 0) return emptyArray(`${at}.tool_calls`);
      // Content may be left out when the turn is a call, a refusal or audio instead.
      if (content != null) return checkContent(content, at);
      if (calls != null || message.function_call != null || message.refusal != null || message.audio != null)
        return undefined;
      return {
        param: `${at}.content`,
        code: 'missing_required_parameter',
        message: `Missing required parameter: '${at}.content'. An assistant message needs content unless it has tool_calls or function_call.`,
      };
    }
    case 'tool':
      if (content === undefined) return missing(`${at}.content`);
      if (message.tool_call_id == null) return missing(`${at}.tool_call_id`);
      if (typeof message.tool_call_id !== 'string')
        return wrongType(`${at}.tool_call_id`, 'a string', message.tool_call_id);
      return checkContent(content, at);
    case 'function':
      return undefined; // deprecated; left to the API
    default:
      // The API accepts empty content ('' or []): only its absence or its type is refused.
      if (content === undefined) return missing(`${at}.content`);
      return checkContent(content, at);
  }
}

function checkContent(content: unknown, at: string): Problem {
  if (typeof content === 'string') return undefined;
  if (!Array.isArray(content))
    return wrongType(`${at}.content`, 'a string or an array of content parts', content);
  for (let j = 0; j < content.length; j++) {
    const part: unknown = content[j];
    const partAt = `${at}.content[${j}]`;
    if (!isRecord(part)) return wrongType(partAt, 'an object', part);
    if (part.type == null) return missing(`${partAt}.type`);
    if (typeof part.type !== 'string') return wrongType(`${partAt}.type`, 'a string', part.type);
    if (part.type === 'text' && typeof part.text !== 'string')
      return part.text == null
        ? missing(`${partAt}.text`)
        : wrongType(`${partAt}.text`, 'a string', part.text);
  }
  return undefined;
}

// --- responses and embeddings input ---

function hasContext(body: Body): boolean {
  return body.prompt != null || body.previous_response_id != null || body.conversation != null;
}

function checkResponsesInput(input: unknown, required: boolean): Problem {
  if (input == null) return required ? missing('input') : undefined;
  if (typeof input === 'string') return input === '' && required ? emptyString('input') : undefined;
  if (!Array.isArray(input)) return wrongType('input', 'a string or an array of input items', input);
  if (input.length === 0) return required ? emptyArray('input') : undefined;
  for (let i = 0; i < input.length; i++) {
    if (!isRecord(input[i])) return wrongType(`input[${i}]`, 'an object', input[i]);
  }
  return undefined;
}

// The API's documented cap on the number of inputs in one embeddings request.
const MAX_EMBEDDING_INPUTS = 2048;

function checkEmbeddingsInput(input: unknown): Problem {
  if (input == null) return missing('input');
  if (input === '') return emptyString('input');
  if (typeof input === 'string') return undefined;
  if (!Array.isArray(input)) return wrongType('input', 'a string or an array', input);
  if (input.length === 0) return emptyArray('input');
  // One input given as token ids.
  if (typeof input[0] === 'number') {
    const bad = input.findIndex((token) => typeof token !== 'number');
    return bad === -1 ? undefined : wrongType(`input[${bad}]`, 'an integer', input[bad]);
  }
  if (input.length > MAX_EMBEDDING_INPUTS)
    return {
      param: 'input',
      code: 'invalid_value',
      message: `Invalid 'input': array too long. Expected an array with maximum length ${MAX_EMBEDDING_INPUTS}, but got an array with length ${input.length} instead.`,
    };
  for (let i = 0; i < input.length; i++) {
    const item: unknown = input[i];
    if (item === '') return emptyString(`input[${i}]`);
    if (Array.isArray(item) && item.length === 0) return emptyArray(`input[${i}]`);
    if (typeof item !== 'string' && !Array.isArray(item))
      return wrongType(`input[${i}]`, 'a string or an array of token ids', item);
  }
  return undefined;
}

// --- numeric parameters ---

interface Range {
  min: number;
  max?: number;
  integer?: boolean;
}

type Ranges = ReadonlyArray<readonly [string, Range]>;

const TEMPERATURE: Range = { min: 0, max: 2 };
const TOP_P: Range = { min: 0, max: 1 };
const AT_LEAST_ONE: Range = { min: 1, integer: true };

const CHAT_RANGES: Ranges = [
  ['temperature', TEMPERATURE],
  ['top_p', TOP_P],
  ['n', AT_LEAST_ONE],
  ['max_tokens', AT_LEAST_ONE],
  ['max_completion_tokens', AT_LEAST_ONE],
];
const RESPONSES_RANGES: Ranges = [
  ['temperature', TEMPERATURE],
  ['top_p', TOP_P],
  ['max_output_tokens', AT_LEAST_ONE],
];
const COMPLETIONS_RANGES: Ranges = [
  ['temperature', TEMPERATURE],
  ['top_p', TOP_P],
  ['n', AT_LEAST_ONE],
  // 0 is legitimate here: `echo` with no completion scores a prompt.
  ['max_tokens', { min: 0, integer: true }],
];

function checkRanges(body: Body, ranges: Ranges): Problem {
  for (const [param, range] of ranges) {
    const problem = checkNumber(param, body[param], range);
    if (problem) return problem;
  }
  return undefined;
}

/** `null` and absent mean "the default" to the API. */
function checkNumber(param: string, value: unknown, range: Range): Problem {
  if (value == null) return undefined;
  if (typeof value !== 'number') return wrongType(param, range.integer ? 'an integer' : 'a number', value);
  // JSON would send NaN and Infinity as null, silently meaning "the default": surely not what was meant.
  if (!Number.isFinite(value)) return invalidValue(param, `${value} is not a finite number.`);
  if (range.integer && !Number.isInteger(value)) return wrongType(param, 'an integer', value);
  if (value < range.min) return invalidValue(param, `${value} is less than the minimum of ${range.min}.`);
  if (range.max !== undefined && value > range.max)
    return invalidValue(param, `${value} is greater than the maximum of ${range.max}.`);
  return undefined;
}

// --- context window ---

// Chat framing per message: <|im_start|>, the role, <|im_sep|> and <|im_end|>
// (OpenAI cookbook, "How to count tokens with tiktoken", for gpt-4o and later);
// and every reply is primed with <|im_start|>assistant<|im_sep|>. Names, tool
// definitions and images add more, which only makes the estimate low.
const MESSAGE_OVERHEAD = 4;
const REPLY_PRIMING = 3;

// The legacy completions API's default `max_tokens`, which it counts when absent.
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

function chatContext(body: Body, windows: Windows): Problem {
  const window = contextWindowFor(body.model as string, windows);
  if (window === undefined) return undefined;
  const messages = body.messages as readonly Body[];
  const completion = countOrZero(body.max_completion_tokens ?? body.max_tokens);
  const texts: string[] = [];
  for (const message of messages) collectContent(message.content, texts);
  const overhead = messages.length * MESSAGE_OVERHEAD + REPLY_PRIMING;
  const prompt = promptTokensIfTooLong(texts, overhead, completion, window);
  if (prompt === undefined) return undefined;
  return contextExceeded('messages', window, prompt, completion, ['messages', 'completion']);
}

function responsesContext(body: Body, windows: Windows): Problem {
  if (typeof body.model !== 'string') return undefined;
  const window = contextWindowFor(body.model, windows);
  if (window === undefined) return undefined;
  const texts: string[] = [];
  let messages = 0;
  if (typeof body.instructions === 'string') {
    texts.push(body.instructions);
    messages++;
  }
  const input = body.input;
  if (typeof input === 'string') {
    texts.push(input);
    messages++;
  } else if (Array.isArray(input)) {
    for (const item of input as readonly unknown[]) {
      if (!isRecord(item)) continue;
      if (item.role != null) messages++;
      collectContent(item.content, texts);
      if (typeof item.output === 'string') texts.push(item.output); // function_call_output
    }
  }
  const completion = countOrZero(body.max_output_tokens);
  const overhead = messages * MESSAGE_OVERHEAD + REPLY_PRIMING;
  const prompt = promptTokensIfTooLong(texts, overhead, completion, window);
  if (prompt === undefined) return undefined;
  return contextExceeded('input', window, prompt, completion, ['input', 'output']);
}

function completionsContext(body: Body, windows: Windows): Problem {
  const window = contextWindowFor(body.model as string, windows);
  if (window === undefined) return undefined;
  const completion = countOrZero(body.max_tokens ?? COMPLETIONS_DEFAULT_MAX_TOKENS);
  return eachPromptFits(body.prompt, 'prompt', completion, window, ['prompt', 'completion']);
}

function embeddingsContext(body: Body, windows: Windows): Problem {
  const window = contextWindowFor(body.model as string, windows);
  if (window === undefined) return undefined;
  return eachPromptFits(body.input, 'input', 0, window, ['input']);
}

/**
 * Each prompt of a batch (a string, strings, token ids, lists of token ids)
 * is its own request to the model, and must fit alone. Token ids count
 * exactly; text is estimated.
 */
function eachPromptFits(
  value: unknown,
  param: string,
  completion: number,
  window: number,
  nouns: readonly string[],
): Problem {
  const batch = Array.isArray(value) && typeof value[0] !== 'number';
  const prompts: readonly unknown[] = batch ? value : [value];
  for (let i = 0; i < prompts.length; i++) {
    const prompt = prompts[i];
    const tokens =
      typeof prompt === 'string'
        ? promptTokensIfTooLong([prompt], 0, completion, window)
        : Array.isArray(prompt) && prompt.length + completion > window
          ? prompt.length
          : undefined;
    if (tokens !== undefined)
      return contextExceeded(batch ? `${param}[${i}]` : param, window, tokens, completion, nouns);
  }
  return undefined;
}

/**
 * The prompt's estimated tokens, `overhead` included, when they might not fit
 * in `window` beside `completion`; `undefined` when they surely fit.
 *
 * Cheap bounds come first: a token is at least one UTF-8 byte, and a UTF-16
 * unit at most three bytes. The tokenizer runs only when both fail, which
 * takes a prompt of tens of kilobytes.
 */
function promptTokensIfTooLong(
  texts: readonly string[],
  overhead: number,
  completion: number,
  window: number,
): number | undefined {
  const budget = window - completion - overhead;
  let units = 0;
  for (const text of texts) units += text.length;
  if (units * 3 <= budget) return undefined;
  let bytes = 0;
  for (const text of texts) bytes += utf8Length(text);
  if (bytes <= budget) return undefined;
  let tokens = 0;
  for (const text of texts) tokens += estimateTokens(text);
  return tokens > budget ? tokens + overhead : undefined;
}

function collectContent(content: unknown, into: string[]): void {
  if (typeof content === 'string') into.push(content);
  else if (Array.isArray(content)) {
    for (const part of content as readonly unknown[]) {
      if (!isRecord(part)) continue;
      if (typeof part.text === 'string') into.push(part.text);
      else if (typeof part.refusal === 'string') into.push(part.refusal);
    }
  }
}

function countOrZero(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

function contextExceeded(
  param: string,
  window: number,
  prompt: number,
  completion: number,
  [promptNoun, completionNoun]: readonly string[],
): ValidationProblem {
  const parts = completionNoun
    ? `${prompt} in the ${promptNoun}, ${completion} in the ${completionNoun}`
    : `${prompt} in the ${promptNoun}`;
  const reduce = completionNoun ? `the ${promptNoun} or ${completionNoun}` : `the ${promptNoun}`;
  return {
    param,
    code: 'context_length_exceeded',
    message: `This model's maximum context length is ${window} tokens. However, you requested about ${prompt + completion} tokens (${parts}). Please reduce the length of ${reduce}.`,
  };
}

// --- problems, in OpenAI's wording ---

function missing(param: string): ValidationProblem {
  return { param, code: 'missing_required_parameter', message: `Missing required parameter: '${param}'.` };
}

function wrongType(param: string, expected: string, value: unknown): ValidationProblem {
  return {
    param,
    code: 'invalid_type',
    message: `Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`,
  };
}

function invalidValue(param: string, why: string): ValidationProblem {
  return { param, code: 'invalid_value', message: `Invalid value for '${param}': ${why}` };
}

function emptyArray(param: string): ValidationProblem {
  return {
    param,
    code: 'empty_array',
    message: `Invalid '${param}': empty array. Expected an array with minimum length 1, but got an empty array instead.`,
  };
}

function emptyString(param: string): ValidationProblem {
  return {
    param,
    code: 'invalid_value',
    message: `Invalid '${param}': string too short. Expected a string with minimum length 1, but got an empty string instead.`,
  };
}

function typeName(value: unknown): string {
  if (value == null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'number':
      return Number.isInteger(value) ? 'an integer' : 'a decimal number';
    case 'object':
      return 'an object';
    default:
      return `a ${typeof value}`;
  }
}

// A user's value quoted in a message stays short.
function clip(text: string): string {
  return text.length <= 40 ? text : `${text.slice(0, 40)}…`;
}

function isRecord(value: unknown): value is Body {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
