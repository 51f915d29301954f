/**
 * Opt-in content capture in the GenAI conventions' role-and-parts schema
 * (gen-ai-input-messages.json, gen-ai-output-messages.json,
 * gen-ai-system-instructions.json at the pin in attributes.ts): messages of
 * `{ role, parts }`, parts `text`, `tool_call`, `tool_call_response`,
 * `reasoning`, and a bare `{ type }` for any other part (images, audio,
 * files: their bytes are not copied). Chat's system and developer messages are
 * part of the history and stay in the input messages, as the conventions say;
 * Responses' `instructions` are the system instructions.
 */
import { isRecord } from '../policy/is-record.ts';

type Part = Record<string, unknown> & { type: string };
interface Message {
  role: string;
  parts: Part[];
  finish_reason?: string;
}

/** OpenAI roles onto the conventions' (system, user, assistant, tool). */
const ROLES: Readonly<Record<string, string>> = { developer: 'system', function: 'tool' };
const role = (r: unknown, fallback = 'user'): string => (typeof r === 'string' ? (ROLES[r] ?? r) : fallback);

/** OpenAI finish reasons onto the conventions' (stop, length, content_filter, tool_call, error). */
const FINISH: Readonly<Record<string, string>> = { tool_calls: 'tool_call', function_call: 'tool_call' };
const finish = (reason: string): string => FINISH[reason] ?? reason;

/** Tool arguments as the object they encode, or the string when it is not JSON. */
function args(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

const textPart = (content: string): Part => ({ type: 'text', content });

/** Content parts of either API: text (and refusals) kept, others named by type only. */
function parts(content: unknown): Part[] {
  if (typeof content === 'string') return content === '' ? [] : [textPart(content)];
  if (!Array.isArray(content)) return [];
  return content.flatMap((p): Part[] => {
    if (!isRecord(p)) return [];
    if (typeof p.text === 'string') return [textPart(p.text)];
    if (typeof p.refusal === 'string') return [textPart(p.refusal)];
    return typeof p.type === 'string' ? [{ type: p.type }] : [];
  });
}

const joinedText = (content: unknown): string =>
  parts(content)
    .map((p) => (typeof p.content === 'string' ? p.content : ''))
    .join('');

function toolCall(id: unknown, name: unknown, argumentsValue: unknown): Part {
  return { type: 'tool_call', id: id ?? null, name, arguments: args(argumentsValue) };
}

/** One Chat Completions message. */
function chatMessage(m: Record<string, unknown>): Message {
  if (m.role === 'tool' || m.role === 'function')
    return {
      role: 'tool',
      parts: [{ type: 'tool_call_response', id: m.tool_call_id ?? null, response: joinedText(m.content) }],
    };
  const out = parts(m.content);
  if (typeof m.refusal === 'string' && m.refusal) out.push(textPart(m.refusal));
  if (Array.isArray(m.tool_calls))
    for (const c of m.tool_calls)
      if (isRecord(c) && isRecord(c.function))
        out.push(toolCall(c.id, c.function.name, c.function.arguments));
  return { role: role(m.role), parts: out };
}

/** One Responses input or output item. */
function responsesItem(item: unknown): Message | undefined {
  if (typeof item === 'string') return { role: 'user', parts: [textPart(item)] };
  if (!isRecord(item)) return undefined;
  switch (item.type) {
    case 'function_call':
      return { role: 'assistant', parts: [toolCall(item.call_id, item.name, item.arguments)] };
    case 'function_call_output':
      return {
        role: 'tool',
        parts: [{ type: 'tool_call_response', id: item.call_id ?? null, response: item.output }],
      };
    case 'reasoning': {
      const summary = Array.isArray(item.summary) ? joinedText(item.summary) : '';
      return { role: 'assistant', parts: summary ? [{ type: 'reasoning', content: summary }] : [] };
    }
    case undefined:
    case 'message':
      return { role: role(item.role), parts: parts(item.content) };
    default:
      return { role: role(item.role, 'assistant'), parts: [{ type: String(item.type) }] };
  }
}

function json(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/** `gen_ai.input.messages`: Chat's `messages` or Responses' `input`. */
export function inputMessages(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined;
  if (Array.isArray(body.messages)) return json(body.messages.filter(isRecord).map(chatMessage));
  if (typeof body.input === 'string' || Array.isArray(body.input)) {
    const items = typeof body.input === 'string' ? [body.input] : body.input;
    return json(items.map(responsesItem).filter((m) => m !== undefined));
  }
  return undefined;
}

/** `gen_ai.system_instructions`: Responses' `instructions`, as text parts. */
export function systemInstructions(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined;
  const instructions = body.instructions;
  if (typeof instructions === 'string') return instructions ? json([textPart(instructions)]) : undefined;
  if (Array.isArray(instructions))
    return json(instructions.flatMap((i) => (isRecord(i) ? parts(i.content) : parts(i))));
  return undefined;
}

/** The finish reason a Responses object implies: its incomplete reason, `error` on failure, else stop or tool_call. */
function responsesFinish(data: Record<string, unknown>, message: Message): string {
  if (data.status === 'failed') return 'error';
  if (data.status === 'incomplete') {
    const reason = isRecord(data.incomplete_details) ? data.incomplete_details.reason : undefined;
    return reason === 'max_output_tokens' ? 'length' : typeof reason === 'string' ? reason : 'error';
  }
  return message.parts.some((p) => p.type === 'tool_call') ? 'tool_call' : 'stop';
}

/** `gen_ai.output.messages`: one message per Chat choice, or one for a Responses output. */
export function outputMessages(data: unknown): string | undefined {
  if (!isRecord(data)) return undefined;
  if (Array.isArray(data.choices))
    return json(
      data.choices.filter(isRecord).map((c) => ({
        ...chatMessage(isRecord(c.message) ? c.message : {}),
        role: 'assistant',
        ...(typeof c.finish_reason === 'string' ? { finish_reason: finish(c.finish_reason) } : {}),
      })),
    );
  if (Array.isArray(data.output)) {
    // One Responses call is one candidate: its items are the parts of one message.
    const message: Message = {
      role: 'assistant',
      parts: data.output.flatMap((i) => responsesItem(i)?.parts ?? []),
    };
    message.finish_reason = responsesFinish(data, message);
    return json([message]);
  }
  return undefined;
}

// A server's index is used as an array index: bounded, so a hostile chunk (index 4294967294)
// cannot make the recording allocate without end. OpenAI's `n` and parallel tool calls stay far below.
const MAX_STREAM_INDEX = 128;

/** A choice's or tool call's index from the server, if it is a small whole number. */
function slot(index: unknown): number | undefined {
  return Number.isInteger(index) && (index as number) >= 0 && (index as number) < MAX_STREAM_INDEX
    ? (index as number)
    : undefined;
}

/** A stream's output, gathered chunk by chunk: Chat deltas per choice, or the Responses final event. */
export class StreamContent {
  private readonly choices = new Map<number, { text: string; calls: Part[]; reason?: string }>();
  private final: string | undefined;

  observe(item: unknown): void {
    if (!isRecord(item)) return;
    if (typeof item.type === 'string' && item.type.startsWith('response.')) {
      if (isRecord(item.response) && Array.isArray(item.response.output) && item.response.output.length)
        this.final = outputMessages(item.response);
      return;
    }
    if (!Array.isArray(item.choices)) return;
    for (const c of item.choices) {
      if (!isRecord(c)) continue;
      const index = c.index === undefined ? 0 : slot(c.index);
      if (index === undefined) continue;
      let choice = this.choices.get(index);
      if (!choice) {
        choice = { text: '', calls: [] };
        this.choices.set(index, choice);
      }
      if (typeof c.finish_reason === 'string') choice.reason = finish(c.finish_reason);
      const delta = isRecord(c.delta) ? c.delta : {};
      if (typeof delta.content === 'string') choice.text += delta.content;
      if (Array.isArray(delta.tool_calls)) for (const t of delta.tool_calls) noteToolDelta(choice.calls, t);
    }
  }

  /** The conventions' JSON of what arrived (partial output included), or undefined when nothing did. */
  result(): string | undefined {
    if (this.final) return this.final;
    if (!this.choices.size) return undefined;
    const messages = [...this.choices.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, c]) => ({
        role: 'assistant',
        parts: [
          ...(c.text ? [textPart(c.text)] : []),
          ...c.calls.map((p) => ({ ...p, arguments: args(p.arguments) })),
        ],
        ...(c.reason ? { finish_reason: c.reason } : {}),
      }));
    return json(messages);
  }
}

/** A streamed tool call arrives in pieces by `index`: the first names it, the rest extend its arguments. */
function noteToolDelta(calls: Part[], delta: unknown): void {
  if (!isRecord(delta)) return;
  const index = delta.index === undefined ? slot(calls.length) : slot(delta.index);
  if (index === undefined) return;
  const fn = isRecord(delta.function) ? delta.function : {};
  const call = calls[index] ?? { type: 'tool_call', id: null, name: '', arguments: '' };
  calls[index] = call;
  if (typeof delta.id === 'string') call.id = delta.id;
  if (typeof fn.name === 'string') call.name = `${call.name}${fn.name}`;
  if (typeof fn.arguments === 'string') call.arguments = `${call.arguments}${fn.arguments}`;
}
