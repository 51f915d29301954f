import { isRecord } from './is-record.ts';
import {
  type Body,
  clip,
  emptyArray,
  emptyString,
  invalidValue,
  missing,
  type Problem,
  wrongType,
} from './validation-problem.ts';

/**
 * The checks of a create body's own fields, per endpoint: what the API
 * refuses with a 400 whatever the model. Synchronous and cheap: linear in the
 * number of messages and parts, never in the length of a text.
 */
export const FIELD_CHECKS = {
  'chat.completions': (body: Body): Problem =>
    checkModel(body) ?? checkMessages(body.messages) ?? checkRanges(body, CHAT_RANGES),
  // A stored prompt can carry the model and the input; a previous response or a conversation, the input.
  responses: (body: Body): Problem =>
    checkModel(body, body.prompt == null) ??
    checkResponsesInput(body.input, !hasContext(body)) ??
    checkRanges(body, RESPONSES_RANGES),
  embeddings: (body: Body): Problem => checkModel(body) ?? checkEmbeddingsInput(body.input),
  completions: (body: Body): Problem => checkModel(body) ?? checkRanges(body, COMPLETIONS_RANGES),
} as const;

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
