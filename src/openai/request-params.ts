/**
 * The request parameters the GenAI conventions record, read from the body the
 * caller passed. Each is type-checked: a value of the wrong type (a string
 * temperature, a fractional seed) is left out rather than recorded as sent.
 */
import type { OperationStarted, RequestParams } from '../observer.ts';
import { isRecord } from '../policy/is-record.ts';
import type { ClientState } from './call-types.ts';
import { inputMessages, systemInstructions } from './content.ts';
import type { RequestInfo } from './extract.ts';

const finite = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined;
const integer = (v: unknown): number | undefined => (Number.isSafeInteger(v) ? (v as number) : undefined);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** `stop` is a string or a list of them; a list with anything else in it is not recorded. */
function stopSequences(stop: unknown): string[] | undefined {
  if (typeof stop === 'string') return [stop];
  if (Array.isArray(stop) && stop.length > 0 && stop.every((s) => typeof s === 'string')) return stop;
  return undefined;
}

/** Chat's `response_format.type` or `modalities`, or Responses' `text.format.type`, as the conventions' output type. */
function outputType(body: Record<string, unknown>): string | undefined {
  const format = isRecord(body.response_format)
    ? body.response_format
    : isRecord(body.text) && isRecord(body.text.format)
      ? body.text.format
      : undefined;
  const type = format?.type;
  if (type === 'json_object' || type === 'json_schema') return 'json';
  // Chat's audio output: the convention's `speech`.
  if (Array.isArray(body.modalities) && body.modalities.includes('audio')) return 'speech';
  return type === 'text' ? 'text' : undefined;
}

/** Responses' `conversation`: its id, or an object holding it. */
function conversationId(conversation: unknown): string | undefined {
  return text(conversation) ?? (isRecord(conversation) ? text(conversation.id) : undefined);
}

export function requestParams(body: unknown): RequestParams | undefined {
  if (!isRecord(body)) return undefined;
  const n = integer(body.n);
  const tier = text(body.service_tier);
  const params: RequestParams = {
    temperature: finite(body.temperature),
    topP: finite(body.top_p),
    maxTokens:
      integer(body.max_tokens) ?? integer(body.max_completion_tokens) ?? integer(body.max_output_tokens),
    frequencyPenalty: finite(body.frequency_penalty),
    presencePenalty: finite(body.presence_penalty),
    stopSequences: stopSequences(body.stop),
    seed: integer(body.seed),
    // The convention records a choice count only when it is not 1.
    choiceCount: n !== undefined && n !== 1 ? n : undefined,
    outputType: outputType(body),
    conversationId: conversationId(body.conversation),
    previousResponseId: text(body.previous_response_id),
    // ... and a requested tier only when it is not `auto`.
    serviceTier: tier !== 'auto' ? tier : undefined,
  };
  const defined = Object.entries(params).filter(([, v]) => v !== undefined);
  return defined.length ? (Object.fromEntries(defined) as RequestParams) : undefined;
}

/** The facts an operation starts with: what was asked, of which server, and (opt-in) the prompt. */
export function operationStarted(
  state: ClientState,
  request: {
    method: string;
    path: string;
    body: unknown;
    info: RequestInfo;
    stream: boolean;
    tags: Readonly<Record<string, string>>;
  },
  capture: boolean,
): OperationStarted {
  const { info, body } = request;
  return {
    operationName: info.operationName,
    api: info.api,
    azure: state.server.azure,
    requestModel: info.model || undefined,
    serverAddress: state.server.address || undefined,
    serverPort: state.server.port || undefined,
    method: request.method,
    path: request.path,
    stream: request.stream,
    deadlineMs: state.options.deadlineMs,
    params: requestParams(body),
    inputContent: capture ? inputMessages(body) : undefined,
    systemInstructions: capture ? systemInstructions(body) : undefined,
    tags: Object.keys(request.tags).length ? request.tags : undefined,
  };
}
