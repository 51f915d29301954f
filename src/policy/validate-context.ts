import { contextWindowFor } from './context-windows.ts';
import { isRecord } from './is-record.ts';
import { type TokenCounting, type TokensOver, tokensOver } from './token-estimate.ts';
import type { Body, Problem, ValidationProblem } from './validation-problem.ts';

export interface ContextOptions {
  /** Context windows merged over `CONTEXT_WINDOWS`. */
  contextWindows?: Readonly<Record<string, number>> | undefined;
  /** How tokens are counted when the bounds cannot decide (see token-estimate.ts). */
  counting?: TokenCounting | undefined;
}

type Check = (body: Body, options: ContextOptions) => Promise<Problem>;

/**
 * Whether the prompt and the completion budget fit the model's context
 * window, per endpoint. Run after the field checks, so `model` is a string
 * where the endpoint requires one. Asynchronous: a long prompt is measured in
 * slices that leave the event loop to other calls.
 */
export const CONTEXT_CHECKS: Readonly<Record<string, Check>> = {
  'chat.completions': chatContext,
  responses: responsesContext,
  embeddings: embeddingsContext,
  completions: completionsContext,
};

// Chat framing per message: <|im_start|>, the role, <|im_sep|> and <|im_end|>
// (OpenAI cookbook, "How to count tokens with tiktoken", for gpt-4o and later);
// and every reply is primed with <|im_start|>assistant<|im_sep|>. Names, tool
// definitions and images add more, which only makes the estimate low.
const MESSAGE_OVERHEAD = 4;
const REPLY_PRIMING = 3;

// The legacy completions API's default `max_tokens`, which it counts when absent.
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

async function chatContext(body: Body, options: ContextOptions): Promise<Problem> {
  const window = contextWindowFor(body.model as string, options.contextWindows);
  if (window === undefined) return undefined;
  const messages = body.messages as readonly Body[];
  const completion = countOrZero(body.max_completion_tokens ?? body.max_tokens);
  const texts: string[] = [];
  for (const message of messages) collectContent(message.content, texts);
  const overhead = messages.length * MESSAGE_OVERHEAD + REPLY_PRIMING;
  const prompt = await promptOver(texts, overhead, completion, window, options.counting);
  if (prompt === undefined) return undefined;
  return contextExceeded('messages', window, prompt, completion, ['messages', 'completion']);
}

async function responsesContext(body: Body, options: ContextOptions): Promise<Problem> {
  if (typeof body.model !== 'string') return undefined;
  const window = contextWindowFor(body.model, options.contextWindows);
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
  const prompt = await promptOver(texts, overhead, completion, window, options.counting);
  if (prompt === undefined) return undefined;
  return contextExceeded('input', window, prompt, completion, ['input', 'output']);
}

async function completionsContext(body: Body, options: ContextOptions): Promise<Problem> {
  const window = contextWindowFor(body.model as string, options.contextWindows);
  if (window === undefined) return undefined;
  const completion = countOrZero(body.max_tokens ?? COMPLETIONS_DEFAULT_MAX_TOKENS);
  return eachPromptFits(body.prompt, 'prompt', completion, window, options.counting, [
    'prompt',
    'completion',
  ]);
}

async function embeddingsContext(body: Body, options: ContextOptions): Promise<Problem> {
  const window = contextWindowFor(body.model as string, options.contextWindows);
  if (window === undefined) return undefined;
  return eachPromptFits(body.input, 'input', 0, window, options.counting, ['input']);
}

/**
 * Each prompt of a batch (a string, strings, token ids, lists of token ids)
 * is its own request to the model, and must fit alone. Token ids count
 * exactly; text is estimated.
 */
async function eachPromptFits(
  value: unknown,
  param: string,
  completion: number,
  window: number,
  counting: TokenCounting | undefined,
  nouns: readonly string[],
): Promise<Problem> {
  const batch = Array.isArray(value) && typeof value[0] !== 'number';
  const prompts: readonly unknown[] = batch ? value : [value];
  for (let i = 0; i < prompts.length; i++) {
    const prompt = prompts[i];
    const tokens: TokensOver | undefined =
      typeof prompt === 'string'
        ? await promptOver([prompt], 0, completion, window, counting)
        : Array.isArray(prompt) && prompt.length + completion > window
          ? { tokens: prompt.length, atLeast: false }
          : undefined;
    if (tokens !== undefined)
      return contextExceeded(batch ? `${param}[${i}]` : param, window, tokens, completion, nouns);
  }
  return undefined;
}

/**
 * The prompt's tokens, `overhead` included, when they do not fit in `window`
 * beside `completion`; `undefined` when they fit or nobody can tell here.
 */
async function promptOver(
  texts: readonly string[],
  overhead: number,
  completion: number,
  window: number,
  counting: TokenCounting | undefined,
): Promise<TokensOver | undefined> {
  const over = await tokensOver(texts, window - completion - overhead, counting);
  return over && { tokens: over.tokens + overhead, atLeast: over.atLeast };
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

// "about" for a count; "at least" when a lower bound already settled it.
function contextExceeded(
  param: string,
  window: number,
  { tokens: prompt, atLeast }: TokensOver,
  completion: number,
  [promptNoun, completionNoun]: readonly string[],
): ValidationProblem {
  const amount = atLeast ? 'at least' : 'about';
  const parts = completionNoun
    ? `${atLeast ? 'at least ' : ''}${prompt} in the ${promptNoun}, ${completion} in the ${completionNoun}`
    : `${atLeast ? 'at least ' : ''}${prompt} in the ${promptNoun}`;
  const reduce = completionNoun ? `the ${promptNoun} or ${completionNoun}` : `the ${promptNoun}`;
  return {
    param,
    code: 'context_length_exceeded',
    message: `This model's maximum context length is ${window} tokens. However, you requested ${amount} ${prompt + completion} tokens (${parts}). Please reduce the length of ${reduce}.`,
  };
}
