import { contextWindowFor } from './context-windows.ts';
import { estimateTokens, utf8Length } from './token-estimate.ts';
import { type Body, isRecord, type Problem, type ValidationProblem } from './validation-problem.ts';

type Windows = Readonly<Record<string, number>> | undefined;

/**
 * Whether the prompt and the completion budget fit the model's context
 * window, per endpoint. Run after the field checks, so `model` is a string
 * where the endpoint requires one.
 */
export const CONTEXT_CHECKS = {
  'chat.completions': chatContext,
  responses: responsesContext,
  embeddings: embeddingsContext,
  completions: completionsContext,
} as const;

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
