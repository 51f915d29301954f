import { context as otelContext } from '@opentelemetry/api';
import type OpenAI from 'openai';
import { AzureOpenAI } from 'openai';
import {
  type ResolvedOptions,
  RetryscopeConfigError,
  type RetryscopeOptions,
  resolveOptions,
} from '../options.ts';
import { systemClock } from '../policy/clock.ts';
import { Telemetry } from '../telemetry/recorder.ts';
import { Call } from './call.ts';
import {
  type ClientState,
  type Hop,
  ModeBox,
  type RequestOptions,
  type Send,
  type Served,
} from './call-types.ts';
import { OperationPromise } from './operation-promise.ts';
import { Pacing } from './pacing.ts';
import { sdkRetries } from './sdk-options.ts';

type AnyClient = OpenAI & Record<string, unknown>;

/** Instrumented clients and the state they share with their `withOptions()`/`withRetryOptions()` siblings. */
const states = new WeakMap<object, ClientState>();
/** Clients instrumented as they were made (zero-code) → the raw client each was made from. */
const constructed = new WeakMap<object, OpenAI>();

/** Whether `client` is one instrument() returned (or a sibling of one): wrapping it again would double its spans. */
export function isInstrumented(client: object): boolean {
  return states.has(client);
}

/**
 * instrument() for a client the app just made under `retryscope/register` or
 * RetryscopeInstrumentation. `options` come from the environment or the
 * instrumentation's config, so a `maxRetries` the app passed to the
 * constructor (code) wins over their `maxAttempts`.
 */
export function instrumentConstructed<T extends OpenAI>(client: T, options: RetryscopeOptions): T {
  const given = (client as unknown as { _options?: { maxRetries?: unknown } })._options?.maxRetries;
  const { maxAttempts: _, ...rest } = options;
  const inst = instrument(client, sdkRetries(given) === undefined ? options : rest);
  constructed.set(inst, client);
  return inst;
}

/**
 * Wraps an `openai` client (`OpenAI`, `AzureOpenAI`, or any OpenAI-compatible
 * `baseURL`) so that every HTTP attempt is a span and retryscope's policy runs
 * the retries. Returns a new client of the same type; the one passed in is
 * left untouched.
 */
export function instrument<T extends OpenAI>(client: T, options: RetryscopeOptions = {}): T {
  assertClient(client);
  // The app's own instrument() call wins over zero-code's: one layer of spans, the app's options.
  const raw = constructed.get(client);
  if (raw) return instrument(raw as T, options);
  const existing = states.get(client);
  if (existing) return withRetryOptions(client, options);
  const resolved = resolveOptions(withConstructorRetries(client, options));
  const clock = resolved.clock ?? systemClock;
  const state: ClientState = {
    telemetry: new Telemetry({
      ...(resolved.tracerProvider ? { tracerProvider: resolved.tracerProvider } : {}),
      ...(resolved.meterProvider ? { meterProvider: resolved.meterProvider } : {}),
      now: () => clock.now(),
    }),
    options: resolved,
    clock,
    random: resolved.random ?? Math.random,
    server: {},
    client: client,
    fallbackClients: rawClones(resolved),
    pacing: new Pacing(resolved),
    tagValues: new Map(),
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

/**
 * `new OpenAI({ maxRetries: n })` means n + 1 attempts, unless instrument()'s own
 * `maxAttempts` says otherwise. The SDK keeps the options it was given in
 * `_options`, so a `maxRetries` there was the caller's choice; its default (2)
 * is not, and leaves retryscope's default standing. (A client made by the SDK's
 * own `withOptions()` carries its parent's value there, default or not.)
 */
function withConstructorRetries(client: OpenAI, options: RetryscopeOptions): RetryscopeOptions {
  if (options === null || typeof options !== 'object' || options.maxAttempts !== undefined) return options;
  const given = (client as unknown as { _options?: { maxRetries?: unknown } })._options?.maxRetries;
  const retries = sdkRetries(given);
  return retries === undefined ? options : { ...options, maxAttempts: retries + 1 };
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

  // One entry point: `request()`. The SDK's get/post/put/patch/delete reach it through
  // `methodRequest`, `client.request({ method, path })` is it, and so will be any method the
  // SDK adds later. Overriding the five verbs instead (as 0.1 did) missed `client.request()`,
  // which then ran on the retries-off clone with no policy and no spans. Only auto-pagination
  // needs a second hook: `requestAPIList` calls the SDK's private `makeRequest` directly.
  const request = proto.request!;
  inst.request = ((opts: RequestOptions | Promise<RequestOptions>) =>
    start(state, async () => {
      const options = (await opts) ?? {};
      const method = String(options.method ?? 'get').toLowerCase();
      const path = String(options.path ?? '');
      const primary: Hop = {
        index: 0,
        client: inst,
        send: (o) => request.call(inst, o) as ReturnType<Send>,
      };
      return { method, path, options, hops: [primary, ...fallbackHops(state, method, path, options)] };
    })) as never;
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
    const retries = sdkRetries(maxRetries);
    const options =
      retries !== undefined ? resolveOptions({ maxAttempts: retries + 1 }, state.options) : state.options;
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
    const request = (Object.getPrototypeOf(client) as { request: (o: unknown) => unknown }).request;
    return {
      index: i + 1,
      model: fallback.model ?? body.model,
      client,
      send: (o) => request.call(client, { ...o, method, path }) as ReturnType<Send>,
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
    // The conventions name Azure OpenAI a provider of its own.
    return { address: url.hostname, port, ...(client instanceof AzureOpenAI ? { azure: true } : {}) };
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
    typeof c.request !== 'function' ||
    typeof c.requestAPIList !== 'function'
  ) {
    const got = c === null ? 'null' : typeof c === 'object' ? (c.constructor?.name ?? 'object') : typeof c;
    throw new RetryscopeConfigError(
      `retryscope: instrument() expects an openai client (new OpenAI(), new AzureOpenAI()); got ${got}`,
    );
  }
}
