/**
 * Server-sent event frames for both streaming APIs, as plain strings so a
 * stream is just a list to write with pauses in between.
 *
 * How errors travel inside a stream differs per API, and the SDK's Stream
 * parser knows both: Chat Completions sends `data: {"error": {...}}`,
 * Responses sends `event: error` with the error fields at the top level.
 * Either way the SDK throws an `APIError` to whoever is iterating.
 */
import type { OpenAIErrorObject } from './errors.ts';
import {
  chatUsage,
  outputMessage,
  outputText,
  type ResponseInput,
  responseObject,
  type Usage,
} from './responses.ts';

export const sseData = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;
export const sseEvent = (event: string, data: unknown): string =>
  `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
export const SSE_DONE = 'data: [DONE]\n\n';

/** Stop after `afterChunks` content chunks and send `error` instead of the rest. */
export interface StreamCut {
  afterChunks: number;
  error: OpenAIErrorObject;
}

export interface ChatStreamInput {
  id: string;
  created: number;
  model: string;
  pieces: readonly string[];
  finishReason: 'stop' | 'length';
  includeUsage: boolean;
  usage: Usage;
  serviceTier: string;
  cut?: StreamCut;
}

export function chatStreamFrames(input: ChatStreamInput): string[] {
  const chunk = (delta: object, finishReason: string | null) => ({
    id: input.id,
    object: 'chat.completion.chunk',
    created: input.created,
    model: input.model,
    service_tier: input.serviceTier,
    system_fingerprint: 'fp_simulator',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    // With include_usage, every chunk says `usage: null` until the last one.
    ...(input.includeUsage ? { usage: null } : {}),
  });

  const frames = [sseData(chunk({ role: 'assistant', content: '', refusal: null }, null))];
  const shown = input.cut ? input.pieces.slice(0, input.cut.afterChunks) : input.pieces;
  for (const piece of shown) frames.push(sseData(chunk({ content: piece }, null)));
  if (input.cut) {
    frames.push(sseData({ error: input.cut.error }));
    return frames;
  }
  frames.push(sseData(chunk({}, input.finishReason)));
  if (input.includeUsage) {
    const { choices: _none, ...rest } = chunk({}, null);
    frames.push(sseData({ ...rest, choices: [], usage: chatUsage(input.usage) }));
  }
  frames.push(SSE_DONE);
  return frames;
}

export interface ResponseStreamInput {
  response: ResponseInput;
  pieces: readonly string[];
  cut?: StreamCut;
  /** With `response.ending`: content chunks before the failing event (0 and failed: it comes first). */
  endAfterChunks?: number;
}

export function responseStreamFrames(input: ResponseStreamInput): string[] {
  const { ending } = input.response;
  const pieces = ending ? input.pieces.slice(0, input.endAfterChunks ?? input.pieces.length) : input.pieces;
  // A fault's ending: the answer so far, then `response.failed` or `response.incomplete`.
  const response = ending ? { ...input.response, text: pieces.join('') } : input.response;
  let sequence = 0;
  const frames: string[] = [];
  const emit = (type: string, fields: object) => {
    frames.push(sseEvent(type, { type, sequence_number: sequence, ...fields }));
    sequence += 1;
  };
  const where = { item_id: response.messageId, output_index: 0, content_index: 0 };

  // As the API does, every stream opens with created and in_progress, a failure before output too.
  emit('response.created', { response: responseObject(response, 'in_progress') });
  emit('response.in_progress', { response: responseObject(response, 'in_progress') });
  if (ending?.status === 'failed' && pieces.length === 0) {
    emit('response.failed', { response: responseObject(response) });
    return frames;
  }
  emit('response.output_item.added', {
    output_index: 0,
    item: outputMessage(response.messageId, '', 'in_progress'),
  });
  emit('response.content_part.added', { ...where, part: outputText('') });

  const shown = input.cut ? pieces.slice(0, input.cut.afterChunks) : pieces;
  for (const delta of shown) emit('response.output_text.delta', { ...where, delta, logprobs: [] });
  if (input.cut) {
    const { message, code, param } = input.cut.error;
    emit('error', { code: code ?? input.cut.error.type, message, param });
    return frames;
  }

  // A failure breaks off the answer; anything else closes it first.
  if (ending?.status !== 'failed') {
    emit('response.output_text.done', { ...where, text: response.text, logprobs: [] });
    emit('response.content_part.done', { ...where, part: outputText(response.text) });
    emit('response.output_item.done', {
      output_index: 0,
      item: outputMessage(response.messageId, response.text, 'completed'),
    });
  }
  const final = responseObject(response);
  emit(`response.${final.status}`, { response: final });
  return frames;
}

/**
 * A stream that breaks off in the middle of a JSON payload: a couple of good
 * frames, then half a frame. The SDK fails to parse it and throws.
 */
export function malformedStream(frames: readonly string[]): string[] {
  const good = frames.slice(0, 2);
  const broken = frames[2] ?? frames[0] ?? 'data: {}\n\n';
  const body = broken.trimEnd();
  return [...good, `${body.slice(0, Math.max(8, Math.floor(body.length / 2)))}\n\n`];
}
