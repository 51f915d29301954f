/**
 * The official SDK must parse everything the simulator sends, and map every
 * error to the class it maps OpenAI's own errors to.
 */
import type OpenAI from 'openai';
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  RateLimitError,
} from 'openai';
import { describe, expect, it } from 'vitest';
import { QUOTA_MESSAGE } from '../../src/simulator/errors.ts';
import type { FaultSpec } from '../../src/simulator/index.ts';
import { REPLY_PIECES } from '../../src/simulator/reply.ts';
import { CHAT, client, simulator } from './helpers.ts';

const FULL_REPLY = REPLY_PIECES.join('');
const PROMPT = 'Say hello.'; // 10 characters: 3 prompt tokens

type ChatBody = OpenAI.Chat.ChatCompletionCreateParamsNonStreaming;
const invalid = (body: object) => body as unknown as ChatBody;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

/** Iterates a stream to its end or its error; returns what arrived before. */
async function drain<T>(stream: AsyncIterable<T>): Promise<{ items: T[]; error: unknown }> {
  const items: T[] = [];
  try {
    for await (const item of stream) items.push(item);
  } catch (error) {
    return { items, error };
  }
  return { items, error: undefined };
}

const always = (kind: FaultSpec['kind'], extra: Partial<FaultSpec> = {}): FaultSpec[] => [
  { kind, every: 1, ...extra },
];

describe('successful answers', () => {
  it('chat completion JSON', async () => {
    const openai = client(await simulator());
    const completion = await openai.chat.completions.create(CHAT);
    expect(completion.id).toMatch(/^chatcmpl-[A-Za-z0-9]+$/);
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('gpt-4o-mini');
    expect(completion.created).toBeGreaterThan(1_600_000_000);
    expect(completion.choices[0]?.message).toMatchObject({ role: 'assistant', content: FULL_REPLY });
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.usage).toMatchObject({
      prompt_tokens: 3,
      completion_tokens: REPLY_PIECES.length,
      total_tokens: 3 + REPLY_PIECES.length,
    });
    expect(completion._request_id).toMatch(/^req_[0-9a-f]{32}$/);
  });

  it.each(['max_tokens', 'max_completion_tokens'])('chat respects %s', async (param) => {
    const openai = client(await simulator());
    const completion = await openai.chat.completions.create({ ...CHAT, [param]: 3 });
    expect(completion.choices[0]?.message.content).toBe('This is a');
    expect(completion.choices[0]?.finish_reason).toBe('length');
    expect(completion.usage?.completion_tokens).toBe(3);
  });

  it('chat stream with include_usage ends with a usage chunk', async () => {
    const openai = client(await simulator());
    const stream = await openai.chat.completions.create({
      ...CHAT,
      stream: true,
      stream_options: { include_usage: true },
    });
    const { items, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(items.every((chunk) => chunk.object === 'chat.completion.chunk')).toBe(true);
    expect(new Set(items.map((chunk) => chunk.id)).size).toBe(1);
    expect(items[0]?.choices[0]?.delta.role).toBe('assistant');
    const text = items.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(FULL_REPLY);
    const finish = items
      .flatMap((chunk) => chunk.choices.map((choice) => choice.finish_reason))
      .filter(Boolean);
    expect(finish).toEqual(['stop']);
    const last = items.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: REPLY_PIECES.length });
    expect(items.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
  });

  it('chat stream without include_usage has no usage chunk', async () => {
    const openai = client(await simulator());
    const stream = await openai.chat.completions.create({ ...CHAT, stream: true });
    const { items } = await drain(stream);
    expect(items.every((chunk) => chunk.choices.length === 1 && chunk.usage === undefined)).toBe(true);
  });

  it('responses JSON', async () => {
    const openai = client(await simulator());
    const response = await openai.responses.create({ model: 'gpt-4o-mini', input: PROMPT });
    expect(response.id).toMatch(/^resp_[0-9a-f]+$/);
    expect(response.object).toBe('response');
    expect(response.status).toBe('completed');
    expect(response.output_text).toBe(FULL_REPLY);
    expect(response.output[0]).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [{ type: 'output_text', text: FULL_REPLY, annotations: [] }],
    });
    expect(response.usage).toMatchObject({
      input_tokens: 3,
      output_tokens: REPLY_PIECES.length,
      total_tokens: 3 + REPLY_PIECES.length,
    });
  });

  it('responses stream: created, deltas, completed with usage, numbered in order', async () => {
    const openai = client(await simulator());
    const stream = await openai.responses.create({ model: 'gpt-4o-mini', input: PROMPT, stream: true });
    const { items, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(items[0]?.type).toBe('response.created');
    expect(items.at(-1)?.type).toBe('response.completed');
    expect(items.map((event) => event.sequence_number)).toEqual(items.map((_, index) => index));
    const deltas = items.flatMap((event) =>
      event.type === 'response.output_text.delta' ? [event.delta] : [],
    );
    expect(deltas.join('')).toBe(FULL_REPLY);
    const completed = items.at(-1);
    if (completed?.type !== 'response.completed') throw new Error('no response.completed');
    expect(completed.response.usage).toMatchObject({ input_tokens: 3, output_tokens: REPLY_PIECES.length });
    expect(completed.response.output[0]).toMatchObject({ content: [{ text: FULL_REPLY }] });
  });

  it("the SDK's responses.stream() helper assembles the final response", async () => {
    const openai = client(await simulator());
    const stream = openai.responses.stream({ model: 'gpt-4o-mini', input: PROMPT });
    const final = await stream.finalResponse();
    expect(final.output_text).toBe(FULL_REPLY);
    expect(final.status).toBe('completed');
  });

  it('embeddings, base64 (the SDK default) and float, deterministic per input', async () => {
    const openai = client(await simulator());
    const viaBase64 = await openai.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['alpha', 'beta'],
    });
    expect(viaBase64.object).toBe('list');
    expect(viaBase64.data.map((item) => [item.object, item.index])).toEqual([
      ['embedding', 0],
      ['embedding', 1],
    ]);
    expect(viaBase64.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
    const viaFloat = await openai.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'alpha',
      encoding_format: 'float',
    });
    const [alpha, beta] = viaBase64.data.map((item) => Array.from(item.embedding));
    expect(Array.from(viaFloat.data[0]!.embedding)).toEqual(alpha);
    expect(alpha).not.toEqual(beta);
    expect(Math.hypot(...alpha!)).toBeCloseTo(1, 5);

    const sized = await openai.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'x',
      dimensions: 32,
    });
    expect(sized.data[0]!.embedding).toHaveLength(32);
  });

  it('models list and retrieve', async () => {
    const openai = client(await simulator());
    const models = await openai.models.list();
    expect(models.data.map((model) => model.id)).toContain('gpt-4o-mini');
    expect(models.data.every((model) => model.object === 'model')).toBe(true);
    expect(await openai.models.retrieve('gpt-4o')).toMatchObject({ id: 'gpt-4o', object: 'model' });
  });
});

describe('errors map to the SDK classes', () => {
  it('RPM rejection: RateLimitError, type requests, with retry-after', async () => {
    const openai = client(await simulator({ limits: { rpm: 1 } }));
    await openai.chat.completions.create(CHAT);
    const error = await rejection(openai.chat.completions.create(CHAT));
    expect(error).toBeInstanceOf(RateLimitError);
    const rateLimit = error as RateLimitError;
    expect(rateLimit.status).toBe(429);
    expect(rateLimit.code).toBe('rate_limit_exceeded');
    expect(rateLimit.type).toBe('requests');
    expect(rateLimit.message).toMatch(
      /Rate limit reached for gpt-4o-mini in organization org-sim on requests per min \(RPM\): Limit 1, Used 1, Requested 1\. Please try again in .+\./,
    );
    expect(Number(rateLimit.headers?.get('retry-after'))).toBeGreaterThan(0);
    expect(rateLimit.requestID).toMatch(/^req_/);
  });

  it('TPM rejection: RateLimitError, type tokens', async () => {
    const openai = client(await simulator({ limits: { tpm: 30 } }));
    await openai.chat.completions.create({ ...CHAT, max_tokens: 20 });
    const error = await rejection(openai.chat.completions.create({ ...CHAT, max_tokens: 20 }));
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).type).toBe('tokens');
    expect((error as RateLimitError).message).toContain(
      'on tokens per min (TPM): Limit 30, Used 23, Requested 23.',
    );
  });

  it('request too large: RateLimitError with no retry-after', async () => {
    const openai = client(await simulator({ limits: { tpm: 100 } }));
    const error = await rejection(openai.chat.completions.create({ ...CHAT, max_tokens: 500 }));
    expect(error).toBeInstanceOf(RateLimitError);
    const tooLarge = error as RateLimitError;
    expect(tooLarge.type).toBe('tokens');
    expect(tooLarge.code).toBe('rate_limit_exceeded');
    expect(tooLarge.message).toContain(
      'Request too large for gpt-4o-mini in organization org-sim on tokens per min (TPM): Limit 100, Requested 503.',
    );
    expect(tooLarge.message).toContain(
      'The input or output tokens must be reduced in order to run successfully.',
    );
    expect(tooLarge.headers?.get('retry-after')).toBeNull();
    expect(tooLarge.headers?.get('retry-after-ms')).toBeNull();
  });

  it('too_large fault: the same error, whatever the request size', async () => {
    const openai = client(await simulator({ faults: always('too_large') }));
    const error = await rejection(openai.chat.completions.create(CHAT));
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).message).toMatch(/^429 Request too large for gpt-4o-mini/);
    expect((error as RateLimitError).headers?.get('retry-after')).toBeNull();
  });

  it('insufficient_quota: RateLimitError with its own type and code', async () => {
    const openai = client(await simulator({ quotaTokens: 0 }));
    const error = await rejection(openai.chat.completions.create(CHAT));
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error).toMatchObject({ status: 429, type: 'insufficient_quota', code: 'insufficient_quota' });
    expect((error as RateLimitError).message).toBe(`429 ${QUOTA_MESSAGE}`);
  });

  it.each(['500', '502', '503'] as const)('%s fault: InternalServerError', async (kind) => {
    const openai = client(await simulator({ faults: always(kind) }));
    const error = await rejection(openai.chat.completions.create(CHAT));
    expect(error).toBeInstanceOf(InternalServerError);
    expect(error).toMatchObject({ status: Number(kind), type: 'server_error' });
  });

  it('an unavailable model: InternalServerError 503, other models fine', async () => {
    const openai = client(await simulator({ unavailableModels: ['gpt-4o'] }));
    const error = await rejection(openai.chat.completions.create({ ...CHAT, model: 'gpt-4o' }));
    expect(error).toBeInstanceOf(InternalServerError);
    expect(error).toMatchObject({ status: 503 });
    expect((error as APIError).message).toContain('gpt-4o');
    await expect(openai.chat.completions.create(CHAT)).resolves.toBeTruthy();
  });

  it('unknown key with acceptAnyKey false: AuthenticationError invalid_api_key', async () => {
    const sim = await simulator({ acceptAnyKey: false, keys: { 'sk-known': {} } });
    await expect(client(sim, { apiKey: 'sk-known' }).chat.completions.create(CHAT)).resolves.toBeTruthy();
    const error = await rejection(client(sim, { apiKey: 'sk-stranger-1234' }).chat.completions.create(CHAT));
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ status: 401, code: 'invalid_api_key' });
    expect((error as APIError).message).toContain('sk-*****1234');
  });

  it('401 fault: AuthenticationError', async () => {
    const openai = client(await simulator({ faults: always('401') }));
    expect(await rejection(openai.chat.completions.create(CHAT))).toBeInstanceOf(AuthenticationError);
  });

  it.each([
    ['missing model', { messages: CHAT.messages }, 'model'],
    ['missing messages', { model: 'gpt-4o-mini' }, 'messages'],
    ['empty messages', { model: 'gpt-4o-mini', messages: [] }, 'messages'],
    ['a bad max_tokens', { ...CHAT, max_tokens: 0 }, 'max_tokens'],
    ['a string max_completion_tokens', { ...CHAT, max_completion_tokens: 'ten' }, 'max_completion_tokens'],
  ])('%s: BadRequestError naming the param', async (_, body, param) => {
    const openai = client(await simulator());
    const error = await rejection(openai.chat.completions.create(invalid(body)));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ status: 400, type: 'invalid_request_error', param });
  });

  it('responses and embeddings validate their input too', async () => {
    const openai = client(await simulator());
    const noInput = { model: 'gpt-4o-mini' } as unknown as OpenAI.Responses.ResponseCreateParamsNonStreaming;
    expect(await rejection(openai.responses.create(noInput))).toMatchObject({ status: 400, param: 'input' });
    const emptyInput = { model: 'text-embedding-3-small', input: [] };
    expect(await rejection(openai.embeddings.create(emptyInput))).toBeInstanceOf(BadRequestError);
  });

  it('400 fault: BadRequestError', async () => {
    const openai = client(await simulator({ faults: always('400') }));
    const error = await rejection(openai.chat.completions.create(CHAT));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ param: 'messages' });
  });

  it('unknown route: NotFoundError', async () => {
    const openai = client(await simulator());
    const error = await rejection(openai.post('/nothing-here', { body: {} }));
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as APIError).message).toContain('Invalid URL (POST /v1/nothing-here)');
  });

  it('connection reset: APIConnectionError, not a timeout', async () => {
    const openai = client(await simulator({ faults: always('reset') }));
    const error = await rejection(openai.chat.completions.create(CHAT));
    expect(error).toBeInstanceOf(APIConnectionError);
    expect(error).not.toBeInstanceOf(APIConnectionTimeoutError);
  });

  it('hang past the client timeout: APIConnectionTimeoutError', async () => {
    const openai = client(await simulator({ faults: always('hang') }), { timeout: 300 });
    expect(await rejection(openai.chat.completions.create(CHAT))).toBeInstanceOf(APIConnectionTimeoutError);
  });

  it('malformed JSON body: the SDK throws a SyntaxError, on every route', async () => {
    const openai = client(await simulator({ faults: always('malformed') }));
    expect(await rejection(openai.chat.completions.create(CHAT))).toBeInstanceOf(SyntaxError);
    expect(await rejection(openai.responses.create({ model: 'm', input: PROMPT }))).toBeInstanceOf(
      SyntaxError,
    );
    expect(await rejection(openai.embeddings.create({ model: 'e', input: 'x' }))).toBeInstanceOf(SyntaxError);
    expect(await rejection(openai.models.list())).toBeInstanceOf(SyntaxError);
  });

  it('malformed stream: the iterating caller gets a SyntaxError after some chunks', async () => {
    const openai = client(await simulator({ faults: always('malformed') }));
    const stream = await openai.chat.completions.create({ ...CHAT, stream: true });
    const { items, error } = await drain(stream);
    expect(items.length).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(SyntaxError);

    const events = await openai.responses.create({ model: 'm', input: PROMPT, stream: true });
    const broken = await drain(events);
    expect(broken.items.length).toBeGreaterThan(0);
    expect(broken.error).toBeInstanceOf(SyntaxError);
  });

  it('slow answers still succeed', async () => {
    const openai = client(await simulator({ faults: always('slow', { delayMs: 200 }) }));
    const started = Date.now();
    await openai.chat.completions.create(CHAT);
    // A lower bound only: timers never fire early by more than a tick.
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });
});

describe('errors inside streams reach the iterating caller', () => {
  it('chat: a server error after N chunks is an APIError', async () => {
    const openai = client(await simulator({ faults: always('stream_error', { afterChunks: 2 }) }));
    const stream = await openai.chat.completions.create({ ...CHAT, stream: true });
    const { items, error } = await drain(stream);
    expect(items.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe('This is');
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).type).toBe('server_error');
  });

  it('responses: an error event after N deltas is an APIError', async () => {
    const openai = client(await simulator({ faults: always('stream_error', { afterChunks: 1 }) }));
    const stream = await openai.responses.create({ model: 'gpt-4o-mini', input: PROMPT, stream: true });
    const { items, error } = await drain(stream);
    expect(items.filter((event) => event.type === 'response.output_text.delta')).toHaveLength(1);
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).code).toBe('server_error');
  });

  it('stream_error never touches non-stream requests', async () => {
    const openai = client(await simulator({ faults: always('stream_error') }));
    await expect(openai.chat.completions.create(CHAT)).resolves.toBeTruthy();
  });

  it('chat: quota running out mid-stream is an insufficient_quota APIError, then 429s', async () => {
    // 3 prompt tokens + 3 reply tokens: the stream breaks after three content chunks.
    const sim = await simulator({ keys: { 'sk-small': { quotaTokens: 6 } } });
    const openai = client(sim, { apiKey: 'sk-small' });
    const stream = await openai.chat.completions.create({ ...CHAT, stream: true });
    const { items, error } = await drain(stream);
    expect(items.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe('This is a');
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ code: 'insufficient_quota', type: 'insufficient_quota' });
    expect((error as APIError).message).toBe(QUOTA_MESSAGE);

    const next = await rejection(openai.chat.completions.create(CHAT));
    expect(next).toBeInstanceOf(RateLimitError);
    expect(next).toMatchObject({ code: 'insufficient_quota' });
    // Other keys are unaffected.
    await expect(client(sim).chat.completions.create(CHAT)).resolves.toBeTruthy();
  });

  it('responses: quota running out mid-stream is an insufficient_quota APIError', async () => {
    const openai = client(await simulator({ keys: { 'sk-small': { quotaTokens: 5 } } }), {
      apiKey: 'sk-small',
    });
    const stream = await openai.responses.create({ model: 'gpt-4o-mini', input: PROMPT, stream: true });
    const { items, error } = await drain(stream);
    const deltas = items.flatMap((event) =>
      event.type === 'response.output_text.delta' ? [event.delta] : [],
    );
    expect(deltas.join('')).toBe('This is');
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ code: 'insufficient_quota' });
  });
});
