/**
 * The GenAI and HTTP convention attributes built from the facts the call
 * reports: its request parameters, what the response said of its service, and
 * the attempt's method and URL template.
 */
import type { Attributes } from '@opentelemetry/api';
import type { OperationStarted, ResponseFacts } from '../observer.ts';
import * as A from './attributes.ts';
import { compact } from './compact.ts';

/** Request attributes of the operation span, known when it starts. */
export function requestAttributes(start: OperationStarted): Attributes {
  const p = start.params ?? {};
  return compact({
    [A.ATTR_OPENAI_API_TYPE]: start.api,
    // Unset means not streaming, as the convention says.
    [A.ATTR_GEN_AI_REQUEST_STREAM]: start.stream ? true : undefined,
    [A.ATTR_GEN_AI_REQUEST_TEMPERATURE]: p.temperature,
    [A.ATTR_GEN_AI_REQUEST_TOP_P]: p.topP,
    [A.ATTR_GEN_AI_REQUEST_MAX_TOKENS]: p.maxTokens,
    [A.ATTR_GEN_AI_REQUEST_FREQUENCY_PENALTY]: p.frequencyPenalty,
    [A.ATTR_GEN_AI_REQUEST_PRESENCE_PENALTY]: p.presencePenalty,
    [A.ATTR_GEN_AI_REQUEST_STOP_SEQUENCES]: p.stopSequences,
    [A.ATTR_GEN_AI_REQUEST_SEED]: p.seed,
    [A.ATTR_GEN_AI_REQUEST_CHOICE_COUNT]: p.choiceCount,
    [A.ATTR_GEN_AI_OUTPUT_TYPE]: p.outputType,
    [A.ATTR_GEN_AI_CONVERSATION_ID]: p.conversationId,
    [A.ATTR_GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID]: p.previousResponseId,
    [A.ATTR_OPENAI_REQUEST_SERVICE_TIER]: p.serviceTier,
    [A.ATTR_GEN_AI_INPUT_MESSAGES]: start.inputContent,
    [A.ATTR_GEN_AI_SYSTEM_INSTRUCTIONS]: start.systemInstructions,
  });
}

/** Service attributes of the operation span, from the response; `clean` redacts a server-supplied string. */
export function serviceAttributes(
  end: ResponseFacts,
  clean: (value: string | undefined) => string | undefined,
): Attributes {
  return compact({
    [A.ATTR_OPENAI_RESPONSE_SERVICE_TIER]: clean(end.serviceTier),
    [A.ATTR_OPENAI_RESPONSE_SYSTEM_FINGERPRINT]: clean(end.systemFingerprint),
    [A.ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]:
      end.timeToFirstChunkMs === undefined ? undefined : end.timeToFirstChunkMs / 1000,
  });
}

/** Path segments that name a resource kind, never an instance. Anything else is an id. */
const STATIC_SEGMENTS = new Set(
  (
    'v1 openai chat completions responses embeddings models files content batches uploads parts ' +
    'input_items cancel compact conversations items images generations edits variations audio ' +
    'speech transcriptions translations moderations fine_tuning jobs events checkpoints ' +
    'vector_stores file_batches search assistants threads messages runs steps submit_tool_outputs ' +
    'deployments realtime sessions containers evals input_tokens'
  ).split(' '),
);

/** `responses` → `response`, `batches` → `batch`, `vector_stores` → `vector_store`. */
function singular(word: string): string {
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('ches')) return word.slice(0, -2);
  return word.endsWith('s') ? word.slice(0, -1) : word;
}

/** `{response_id}` for a segment under `responses`; `{id}` where nothing names its kind. */
const placeholder = (parent: string | undefined): string => (parent ? `{${singular(parent)}_id}` : '{id}');

/**
 * The path as a low-cardinality template: `/responses/resp_1/input_items` →
 * `/responses/{response_id}/input_items`. No query, no host.
 */
export function urlTemplate(path: string): string {
  const segments = path
    .split('?')[0]!
    .split('/')
    .filter((s) => s !== '');
  const out: string[] = [];
  let parent: string | undefined;
  for (const s of segments) {
    if (STATIC_SEGMENTS.has(s)) {
      out.push(s);
      parent = s;
    } else {
      out.push(placeholder(parent));
      parent = undefined;
    }
  }
  return `/${out.join('/')}`;
}
