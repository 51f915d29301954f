/**
 * JSON bodies of successful answers, in the shapes the official SDK's types
 * describe. Pure: ids and times come in as arguments.
 */
import { hashString, mulberry32 } from './random.ts';

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Part of `inputTokens`. */
  cachedTokens: number;
  /** Part of `outputTokens`. */
  reasoningTokens: number;
}

/** Half of every prompt is read from the prompt cache, as if warm (the scenario's `cachedInputShare`). */
export const CACHED_INPUT_SHARE = 0.5;
/** Reasoning models (`o1`, `o3`, `o4-mini`, `gpt-5*`) spend half their output tokens reasoning. */
export const REASONING_OUTPUT_SHARE = 0.5;
const REASONING_MODEL = /^(o\d|gpt-5)/;

/** An answer's usage, its details derived from the totals (deterministic, so tests can price it). */
export function usageFor(
  model: string,
  inputTokens: number,
  outputTokens: number,
  cachedShare = CACHED_INPUT_SHARE,
): Usage {
  const reasons = REASONING_MODEL.test(model);
  return {
    inputTokens,
    outputTokens,
    cachedTokens: Math.floor(inputTokens * cachedShare),
    reasoningTokens: reasons ? Math.floor(outputTokens * REASONING_OUTPUT_SHARE) : 0,
  };
}

const ECHOED_TIERS: ReadonlySet<string> = new Set(['flex', 'priority', 'default']);

/** The tier that serves a request: the one asked when it is flex, priority or default; else default. */
export function servedTier(asked: string | undefined): string {
  return asked !== undefined && ECHOED_TIERS.has(asked) ? asked : 'default';
}

export function chatUsage(usage: Usage) {
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: usage.reasoningTokens,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

export interface ChatCompletionInput {
  id: string;
  created: number;
  model: string;
  text: string;
  finishReason: 'stop' | 'length';
  usage: Usage;
  serviceTier: string;
}

export function chatCompletion(input: ChatCompletionInput) {
  return {
    id: input.id,
    object: 'chat.completion',
    created: input.created,
    model: input.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: input.text, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: input.finishReason,
      },
    ],
    usage: chatUsage(input.usage),
    service_tier: input.serviceTier,
    system_fingerprint: 'fp_simulator',
  };
}

export function responseUsage(usage: Usage) {
  return {
    input_tokens: usage.inputTokens,
    input_tokens_details: { cached_tokens: usage.cachedTokens },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens },
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

export function outputText(text: string) {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

export interface ResponseInput {
  id: string;
  messageId: string;
  createdAt: number;
  model: string;
  text: string;
  /** Cut short by `max_output_tokens`. */
  truncated: boolean;
  usage: Usage;
  maxOutputTokens: number | null;
  instructions: string | null;
  /** A fault's ending instead of the natural one (completed, or incomplete when truncated). */
  ending?: ResponseEnding;
  /** Created with `background: true`. */
  background?: boolean;
  serviceTier: string;
}

/** How a fault ends a response: failed with an error code, or incomplete for a reason. */
export type ResponseEnding = { status: 'failed'; code: string } | { status: 'incomplete'; reason: string };

/**
 * A `response` object; `state` picks the shape before the end: `queued` (a
 * background response just created), `in_progress` (streams open with it).
 */
export function responseObject(input: ResponseInput, state: 'queued' | 'in_progress' | 'final' = 'final') {
  const final = state === 'final';
  const ending =
    input.ending ?? (input.truncated ? { status: 'incomplete', reason: 'max_output_tokens' } : undefined);
  const status = !final ? state : (ending?.status ?? 'completed');
  const failed = final && ending?.status === 'failed';
  return {
    id: input.id,
    object: 'response',
    created_at: input.createdAt,
    status,
    background: input.background === true,
    error: failed
      ? { code: ending.code, message: 'The model failed to generate a response (simulated fault).' }
      : null,
    incomplete_details: final && ending?.status === 'incomplete' ? { reason: ending.reason } : null,
    instructions: input.instructions,
    max_output_tokens: input.maxOutputTokens,
    model: input.model,
    output: final && !failed ? [outputMessage(input.messageId, input.text, 'completed')] : [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: input.serviceTier,
    store: true,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage: final && !failed ? responseUsage(input.usage) : null,
    user: null,
    metadata: {},
  };
}

export function outputMessage(id: string, text: string, status: 'in_progress' | 'completed') {
  return {
    id,
    type: 'message',
    status,
    role: 'assistant',
    content: status === 'completed' ? [outputText(text)] : [],
  };
}

/**
 * A deterministic unit vector for `text`: same input, same embedding, so
 * tests can compare vectors without fixtures.
 */
export function embeddingVector(text: string, dimensions: number): number[] {
  const random = mulberry32(hashString(text));
  const raw = Array.from({ length: dimensions }, () => random() * 2 - 1);
  const norm = Math.hypot(...raw) || 1;
  // Through float32, so the float and base64 encodings carry the same numbers.
  return Array.from(new Float32Array(raw.map((value) => value / norm)));
}

/** OpenAI's base64 encoding: little-endian float32s. */
export function embeddingBase64(vector: readonly number[]): string {
  const floats = new Float32Array(vector);
  return Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).toString('base64');
}

export function embeddingsList(
  model: string,
  inputs: readonly string[],
  dimensions: number,
  format: 'float' | 'base64',
  promptTokens: number,
) {
  return {
    object: 'list',
    data: inputs.map((input, index) => {
      const vector = embeddingVector(input, dimensions);
      return {
        object: 'embedding',
        index,
        embedding: format === 'base64' ? embeddingBase64(vector) : vector,
      };
    }),
    model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

/** What `GET /v1/models` lists; any model name is accepted regardless. */
export const LISTED_MODELS = [
  'gpt-4o-mini',
  'gpt-4o',
  'gpt-4.1-mini',
  'gpt-4.1',
  'o4-mini',
  'text-embedding-3-small',
  'text-embedding-3-large',
] as const;

const MODELS_CREATED = 1_715_367_049;

export function modelObject(id: string) {
  return { id, object: 'model', created: MODELS_CREATED, owned_by: 'system' };
}

export function modelsList() {
  return { object: 'list', data: LISTED_MODELS.map(modelObject) };
}
