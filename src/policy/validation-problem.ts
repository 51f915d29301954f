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

export type Problem = ValidationProblem | undefined;
export type Body = Readonly<Record<string, unknown>>;

// --- problems, in OpenAI's wording ---

export function missing(param: string): ValidationProblem {
  return { param, code: 'missing_required_parameter', message: `Missing required parameter: '${param}'.` };
}

export function wrongType(param: string, expected: string, value: unknown): ValidationProblem {
  return {
    param,
    code: 'invalid_type',
    message: `Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`,
  };
}

export function invalidValue(param: string, why: string): ValidationProblem {
  return { param, code: 'invalid_value', message: `Invalid value for '${param}': ${why}` };
}

export function emptyArray(param: string): ValidationProblem {
  return {
    param,
    code: 'empty_array',
    message: `Invalid '${param}': empty array. Expected an array with minimum length 1, but got an empty array instead.`,
  };
}

export function emptyString(param: string): ValidationProblem {
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
export function clip(text: string): string {
  return text.length <= 40 ? text : `${text.slice(0, 40)}…`;
}
