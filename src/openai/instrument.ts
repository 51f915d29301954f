import { context as otelContext } from '@opentelemetry/api';
import type OpenAI from 'openai';
import {
  type ResolvedOptions,
  RetryscopeConfigError,
  type RetryscopeOptions,
  resolveOptions,
} from '../options.ts';
import { systemClock } from '../policy/clock.ts';
import { Telemetry } from '../telemetry/recorder.ts';
import {
  Call,
  type ClientState,
  type Hop,
  ModeBox,
  type RequestOptions,
  type Send,
  type Served,
} from './call.ts';
import { OperationPromise } from './operation-promise.ts';
import { Pacing } from './pacing.ts';

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
    fallbackClients: rawClones(resolved),
    pacing: new Pacing(resolved),
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
  const options = resolveOptions(overrides, state.options);
  // Pacing is shared with the original unless the overrides change how it works.
  const repace = 'limiter' in overrides || 'retryBudget' in overrides || 'circuitBreaker' in overrides;
  return wrap(client, {
    ...state,
    options,
    fallbackClients: rawClones(options),
    pacing: repace ? new Pacing(options) : state.pacing,
  });
}

/** Fallback clients with their own retries off (via the prototype, so an instrumented one is unwrapped). */
function rawClones(options: ResolvedOptions): (OpenAI | undefined)[] {
  return options.fallbacks.map((f) => (f.client ? rawClone(f.client) : undefined));
}

function rawClone<T extends OpenAI>(client: T): T {
  const proto = Object.getPrototypeOf(client) as { withOptions: (o: object) => T };
  return proto.withOptions.call(client, { maxRetries: 0 });
}

function wrap<T extends OpenAI>(client: T, shared: ClientState): T {
  // A fresh client with the SDK's own retries off, so no attempt is ever hidden.
  const proto = Object.getPrototypeOf(client) as Record<string, (...args: unknown[]) => unknown>;
  const inst = rawClone(client) as T & AnyClient;
  const state: ClientState = { ...shared, client: inst, server: serverOf(inst) };
  states.set(inst, state);
  // The keys this client sends: an echoing server must not get them recorded.
  for (const c of [inst, ...shared.fallbackClients]) state.telemetry.protect(c?.apiKey);

  for (const method of METHODS) {
    const original = proto[method]!;
    inst[method] = ((path: string, opts?: RequestOptions | Promise<RequestOptions>) =>
      start(state, async () => {
        const options = (await opts) ?? {};
        const primary: Hop = {
          index: 0,
          client: inst,
          send: (o) => original.call(inst, path, o) as ReturnType<Send>,
        };
        return { method, path, options, hops: [primary, ...fallbackHops(state, method, path, options)] };
      })) as never;
  }
  const requestAPIList = proto.requestAPIList!;
  inst.requestAPIList = ((Page: unknown, opts: RequestOptions | Promise<RequestOptions>) =>
    start(state, async () => {
      const options = await opts;
      const send: Send = (o) => requestAPIList.call(inst, Page, o) as ReturnType<Send>;
      const hop: Hop = { index: 0, client: inst, send };
      return {
        method: String(options.method ?? 'get'),
        path: String(options.path ?? ''),
        options,
        hops: [hop],
      };
    })) as never;
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

/**
 * The fallbacks of an inference call (a POST naming a model), each sending the
 * same request through its own client, or the primary's, with its own model.
 */
function fallbackHops(state: ClientState, method: string, path: string, options: RequestOptions): Hop[] {
  const body = options.body as { model?: unknown } | undefined;
  if (method !== 'post' || typeof body?.model !== 'string') return [];
  return state.options.fallbacks.map((fallback, i) => {
    const client = state.fallbackClients[i] ?? state.client;
    const post = (Object.getPrototypeOf(client) as { post: (p: string, o: unknown) => unknown }).post;
    return {
      index: i + 1,
      model: fallback.model ?? body.model,
      client,
      send: (o) => post.call(client, path, o) as ReturnType<Send>,
    } as Hop;
  });
}

/** Starts a call and returns the SDK-shaped promise the caller awaits. */
function start(
  state: ClientState,
  describe: () => Promise<{ method: string; path: string; options: RequestOptions; hops: Hop[] }>,
): OperationPromise<unknown> {
  // Captured now, synchronously: the operation span is a child of the caller's active span.
  const parent = otelContext.active();
  const box = new ModeBox();
  let served: Served | undefined;
  const props = (async () => {
    const { method, path, options, hops } = await describe();
    const call = new Call(state, method, path, options, hops, parent, box);
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
