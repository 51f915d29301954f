import { context as otelContext } from '@opentelemetry/api';
import type OpenAI from 'openai';
import { RetryscopeConfigError, type RetryscopeOptions, resolveOptions } from '../options.ts';
import { systemClock } from '../policy/clock.ts';
import { Telemetry } from '../telemetry/recorder.ts';
import { Call, type ClientState, ModeBox, type RequestOptions, type Send, type Served } from './call.ts';
import { OperationPromise } from './operation-promise.ts';

type AnyClient = OpenAI & Record<string, unknown>;
type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
const METHODS: readonly Method[] = ['get', 'post', 'put', 'patch', 'delete'];

/** Instrumented clients and the state they share with their `withOptions()`/`withRetryOptions()` siblings. */
const states = new WeakMap<object, ClientState>();

/**
 * Wraps an `openai` client (`OpenAI`, `AzureOpenAI`, or any OpenAI-compatible
 * `baseURL`) so that every HTTP attempt is a span and retryscope's policy runs
 * the retries. Returns a new client of the same type; the one passed in is
 * left untouched.
 */
export function instrument<T extends OpenAI>(client: T, options: RetryscopeOptions = {}): T {
  assertClient(client);
  const existing = states.get(client);
  if (existing) return withRetryOptions(client, options);
  const resolved = resolveOptions(options);
  const state: ClientState = {
    telemetry: new Telemetry({
      ...(resolved.tracerProvider ? { tracerProvider: resolved.tracerProvider } : {}),
      ...(resolved.meterProvider ? { meterProvider: resolved.meterProvider } : {}),
    }),
    options: resolved,
    clock: resolved.clock ?? systemClock,
    random: resolved.random ?? Math.random,
    server: {},
    client: client,
  };
  return wrap(client, state);
}

/**
 * A sibling of an instrumented client with some options overridden, for one
 * call or a group of calls: `withRetryOptions(openai, { maxAttempts: 1 }).chat.completions.create(...)`.
 * Telemetry is shared with the original.
 */
export function withRetryOptions<T extends OpenAI>(client: T, overrides: RetryscopeOptions): T {
  const state = states.get(client);
  if (!state)
    throw new RetryscopeConfigError(
      'retryscope: withRetryOptions() expects a client returned by instrument()',
    );
  if ('tracerProvider' in overrides || 'meterProvider' in overrides) {
    throw new RetryscopeConfigError(
      'retryscope: tracerProvider and meterProvider cannot be overridden per call',
    );
  }
  return wrap(client, { ...state, options: resolveOptions(overrides, state.options) });
}

function wrap<T extends OpenAI>(client: T, shared: ClientState): T {
  // A fresh client with the SDK's own retries off, so no attempt is ever hidden.
  const proto = Object.getPrototypeOf(client) as Record<string, (...args: unknown[]) => unknown>;
  const inst = (proto.withOptions as (o: object) => T).call(client, { maxRetries: 0 }) as T & AnyClient;
  const state: ClientState = { ...shared, client: inst, server: serverOf(inst) };
  states.set(inst, state);

  for (const method of METHODS) {
    const original = proto[method]!;
    inst[method] = ((path: string, opts?: RequestOptions | Promise<RequestOptions>) =>
      operation(state, method, path, opts, (o) => original.call(inst, path, o) as ReturnType<Send>)) as never;
  }
  const requestAPIList = proto.requestAPIList!;
  inst.requestAPIList = ((Page: unknown, opts: RequestOptions | Promise<RequestOptions>) => {
    const resolved = Promise.resolve(opts);
    return operationFromFinal(state, resolved, (o) => requestAPIList.call(inst, Page, o) as ReturnType<Send>);
  }) as never;
  // `withOptions()` on an instrumented client stays instrumented; a `maxRetries` there means attempts.
  inst.withOptions = ((o: Partial<Record<string, unknown>>) => {
    const { maxRetries, ...rest } = o ?? {};
    const next = (proto.withOptions as (o: object) => T).call(inst, rest);
    const options =
      typeof maxRetries === 'number'
        ? resolveOptions({ maxAttempts: maxRetries + 1 }, state.options)
        : state.options;
    return wrap(next, { ...state, options });
  }) as never;
  return inst;
}

/** Starts a call and returns the SDK-shaped promise the caller awaits. */
function operation(
  state: ClientState,
  method: string,
  path: string,
  opts: RequestOptions | Promise<RequestOptions> | undefined,
  send: Send,
): OperationPromise<unknown> {
  return start(state, send, async () => ({ method, path, options: (await opts) ?? {} }));
}

function operationFromFinal(
  state: ClientState,
  opts: Promise<RequestOptions>,
  send: Send,
): OperationPromise<unknown> {
  return start(state, send, async () => {
    const options = await opts;
    return { method: String(options.method ?? 'get'), path: String(options.path ?? ''), options };
  });
}

function start(
  state: ClientState,
  send: Send,
  describe: () => Promise<{ method: string; path: string; options: RequestOptions }>,
): OperationPromise<unknown> {
  // Captured now, synchronously: the operation span is a child of the caller's active span.
  const parent = otelContext.active();
  const box = new ModeBox();
  let served: Served | undefined;
  const props = (async () => {
    const { method, path, options } = await describe();
    const call = new Call(state, method, path, options, send, parent, box);
    served = await call.run();
    return {
      response: served.response,
      options: options as never,
      controller: new AbortController(),
      requestLogID: 'retryscope',
      retryOfRequestLogID: undefined,
      startTime: Date.now(),
    };
  })();
  const parse = async () => {
    const s = served!;
    return s.hasData ? s.data : await s.attempt;
  };
  return new OperationPromise(state.client, props, parse, box);
}

function serverOf(client: OpenAI): ClientState['server'] {
  try {
    const url = new URL(client.baseURL);
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    return { address: url.hostname, port };
  } catch {
    return {};
  }
}

function assertClient(client: unknown): asserts client is OpenAI {
  const c = client as Record<string, unknown> | null;
  if (
    c === null ||
    typeof c !== 'object' ||
    typeof c.withOptions !== 'function' ||
    typeof c.post !== 'function' ||
    typeof c.requestAPIList !== 'function'
  ) {
    const got = c === null ? 'null' : typeof c === 'object' ? (c.constructor?.name ?? 'object') : typeof c;
    throw new RetryscopeConfigError(
      `retryscope: instrument() expects an openai client (new OpenAI(), new AzureOpenAI()); got ${got}`,
    );
  }
}
