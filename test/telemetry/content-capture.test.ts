// size: one scenario per content shape the conventions define (Chat and Responses, plain and streamed), each with its own fixture
/**
 * Opt-in content capture in the conventions' role-and-parts schema, for Chat
 * and Responses, plain and streamed; `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`
 * when the option is not given, the option winning when it is.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { RetryscopeOptions } from '../../src/index.ts';
import { scriptedClients } from '../helpers/scripted-client.ts';
import { chatCompletion } from '../helpers/scripted-server.ts';

afterEach(() => vi.unstubAllEnvs());

const SECRET = 'sk-live-CONTENT-CANARY-98765';
const ENV = 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT';
const scripted = scriptedClients({}, SECRET);
const { t, client } = scripted;

async function op() {
  const span = (await t.spans()).find((s) => s.attributes['retryscope.outcome'] !== undefined)!;
  const parse = (name: string) => {
    const value = span.attributes[name];
    return value === undefined ? undefined : JSON.parse(String(value));
  };
  return {
    input: parse('gen_ai.input.messages'),
    output: parse('gen_ai.output.messages'),
    system: parse('gen_ai.system_instructions'),
  };
}

const toolTurn = [
  { role: 'system' as const, content: 'Be brief.' },
  { role: 'developer' as const, content: 'Use tools.' },
  { role: 'user' as const, content: [{ type: 'text' as const, text: 'Weather in Paris?' }] },
  {
    role: 'assistant' as const,
    content: null,
    tool_calls: [
      {
        id: 'call_1',
        type: 'function' as const,
        function: { name: 'get_weather', arguments: '{"location":"Paris"}' },
      },
    ],
  },
  { role: 'tool' as const, tool_call_id: 'call_1', content: 'rainy, 57°F' },
];

describe('Chat Completions', () => {
  test('input: text, tool_call and tool_call_response parts; output with finish_reason', async () => {
    scripted.server.reply({
      json: {
        ...chatCompletion('ignored'),
        choices: [
          { index: 0, message: { role: 'assistant', content: 'It is rainy.' }, finish_reason: 'stop' },
          {
            index: 1,
            message: {
              role: 'assistant',
              content: null,
              tool_calls: [
                { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{"tz":"CET"}' } },
              ],
            },
            finish_reason: 'tool_calls',
          },
        ],
      },
    });
    await client({ captureContent: true }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: toolTurn,
      n: 2,
    });
    const { input, output, system } = await op();
    expect(input).toEqual([
      { role: 'system', parts: [{ type: 'text', content: 'Be brief.' }] },
      { role: 'system', parts: [{ type: 'text', content: 'Use tools.' }] },
      { role: 'user', parts: [{ type: 'text', content: 'Weather in Paris?' }] },
      {
        role: 'assistant',
        parts: [{ type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: { location: 'Paris' } }],
      },
      { role: 'tool', parts: [{ type: 'tool_call_response', id: 'call_1', response: 'rainy, 57°F' }] },
    ]);
    expect(output).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: 'It is rainy.' }], finish_reason: 'stop' },
      {
        role: 'assistant',
        parts: [{ type: 'tool_call', id: 'call_2', name: 'get_time', arguments: { tz: 'CET' } }],
        finish_reason: 'tool_call',
      },
    ]);
    // Chat's system messages are part of the history: the conventions keep them in the input.
    expect(system).toBeUndefined();
  });

  test('a refusal is a text part; content_filter is kept as the finish reason', async () => {
    scripted.server.reply({
      json: {
        ...chatCompletion('ignored'),
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: null, refusal: 'I cannot help with that.' },
            finish_reason: 'content_filter',
          },
        ],
      },
    });
    await client({ captureContent: true }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: toolTurn,
    });
    expect((await op()).output).toEqual([
      {
        role: 'assistant',
        parts: [{ type: 'text', content: 'I cannot help with that.' }],
        finish_reason: 'content_filter',
      },
    ]);
  });

  test('a stream: text and tool-call deltas gathered per choice', async () => {
    const base = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini' };
    scripted.server.reply({
      sse: [
        {
          ...base,
          choices: [{ index: 0, delta: { role: 'assistant', content: 'Par' }, finish_reason: null }],
        },
        { ...base, choices: [{ index: 0, delta: { content: 'is' }, finish_reason: 'stop' }] },
        {
          ...base,
          choices: [
            {
              index: 1,
              delta: {
                tool_calls: [{ index: 0, id: 'call_s', function: { name: 'f', arguments: '{"a":' } }],
              },
              finish_reason: null,
            },
          ],
        },
        {
          ...base,
          choices: [
            {
              index: 1,
              delta: { tool_calls: [{ index: 0, function: { arguments: '1}' } }] },
              finish_reason: 'tool_calls',
            },
          ],
        },
      ],
    });
    const stream = await client({ captureContent: true }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Capital?' }],
      stream: true,
      n: 2,
    });
    for await (const _ of stream);
    const { output } = await op();
    expect(output).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: 'Paris' }], finish_reason: 'stop' },
      {
        role: 'assistant',
        parts: [{ type: 'tool_call', id: 'call_s', name: 'f', arguments: { a: 1 } }],
        finish_reason: 'tool_call',
      },
    ]);
  });
});

test('a hostile stream index (a choice or tool call at 4294967294) is left out, not allocated', async () => {
  const base = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini' };
  const call = (index: number) => ({ index, id: `call_${index}`, function: { name: 'f', arguments: '{}' } });
  scripted.server.reply({
    sse: [
      { ...base, choices: [{ index: 0, delta: { content: 'ok', tool_calls: [call(4294967294), call(0)] } }] },
      { ...base, choices: [{ index: 30_000_000, delta: { content: 'x' }, finish_reason: 'stop' }] },
      { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
    ],
  });
  const stream = await client({ captureContent: true }).chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  });
  const seen: unknown[] = [];
  for await (const c of stream) seen.push(c);
  expect(seen).toHaveLength(3);
  const { output } = await op();
  expect(output).toEqual([
    {
      role: 'assistant',
      parts: [
        { type: 'text', content: 'ok' },
        { type: 'tool_call', id: 'call_0', name: 'f', arguments: {} },
      ],
      finish_reason: 'stop',
    },
  ]);
});

describe('Responses', () => {
  const response = {
    id: 'resp_1',
    object: 'response',
    created_at: 1,
    model: 'gpt-4o-mini',
    status: 'completed',
    output: [
      {
        type: 'function_call',
        id: 'fc_1',
        call_id: 'call_9',
        name: 'lookup',
        arguments: '{"q":"x"}',
        status: 'completed',
      },
      {
        type: 'message',
        id: 'm',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Done.', annotations: [] }],
      },
    ],
    usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 },
  };

  test('instructions are the system instructions; input items and output in parts', async () => {
    scripted.server.reply({ json: response });
    await client({ captureContent: true }).responses.create({
      model: 'gpt-4o-mini',
      instructions: 'You are a language translator.',
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'Translate hello' }] },
        { type: 'function_call_output', call_id: 'call_8', output: '{"ok":true}' },
      ],
    });
    const { input, output, system } = await op();
    expect(system).toEqual([{ type: 'text', content: 'You are a language translator.' }]);
    expect(input).toEqual([
      { role: 'user', parts: [{ type: 'text', content: 'Translate hello' }] },
      { role: 'tool', parts: [{ type: 'tool_call_response', id: 'call_8', response: '{"ok":true}' }] },
    ]);
    expect(output).toEqual([
      {
        role: 'assistant',
        parts: [
          { type: 'tool_call', id: 'call_9', name: 'lookup', arguments: { q: 'x' } },
          { type: 'text', content: 'Done.' },
        ],
        finish_reason: 'tool_call',
      },
    ]);
  });

  test('a stream: the final event’s response is the output', async () => {
    scripted.server.reply({
      sse: [
        {
          type: 'response.created',
          sequence_number: 0,
          response: { ...response, status: 'in_progress', output: [] },
        },
        {
          type: 'response.completed',
          sequence_number: 1,
          response: { ...response, output: [response.output[1]] },
        },
      ],
    });
    const stream = await client({ captureContent: true }).responses.create({
      model: 'gpt-4o-mini',
      input: 'Capital?',
      stream: true,
    });
    for await (const _ of stream);
    const { input, output } = await op();
    expect(input).toEqual([{ role: 'user', parts: [{ type: 'text', content: 'Capital?' }] }]);
    expect(output).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: 'Done.' }], finish_reason: 'stop' },
    ]);
  });
});

describe(ENV, () => {
  const call = async (options: RetryscopeOptions) => {
    t.reset();
    scripted.server.reply({ json: chatCompletion('Paris.') });
    await client(options).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'capital of France?' }],
    });
    const dump = JSON.stringify((await t.spans()).map((s) => s.attributes));
    expect(dump).not.toContain(SECRET);
    return dump.includes('capital of France') && dump.includes('Paris.');
  };

  test('turns capture on when the option is not given; the option wins; false and unset keep it off', async () => {
    expect(await call({})).toBe(false);
    vi.stubEnv(ENV, 'true');
    expect(await call({})).toBe(true);
    expect(await call({ captureContent: false })).toBe(false);
    vi.stubEnv(ENV, 'TRUE');
    expect(await call({})).toBe(true);
    // The latest-experimental values: on spans is what retryscope records.
    vi.stubEnv(ENV, 'SPAN_ONLY');
    expect(await call({})).toBe(true);
    vi.stubEnv(ENV, 'span_and_event');
    expect(await call({})).toBe(true);
    vi.stubEnv(ENV, 'EVENT_ONLY');
    expect(await call({})).toBe(false);
    vi.stubEnv(ENV, 'NO_CONTENT');
    expect(await call({})).toBe(false);
    vi.stubEnv(ENV, 'false');
    expect(await call({})).toBe(false);
    expect(await call({ captureContent: true })).toBe(true);
    vi.stubEnv(ENV, 'yes');
    expect(await call({})).toBe(false);
  });
});
