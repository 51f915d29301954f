/** The vocabulary one call's parts share: its client's state, its hops, what serves it. */
import type OpenAI from 'openai';
import type { Stream } from 'openai/core/streaming';
import type { ResolvedOptions } from '../options.ts';
import type { Clock } from '../policy/clock.ts';
import { inBandErrorType } from '../policy/in-band.ts';
import type { SeenTagValues } from '../policy/tags.ts';
import type { InBandFailure, Outcome } from '../policy/types.ts';
import type { Telemetry } from '../telemetry/recorder.ts';
import type { ConsumeMode, ModeSink } from './operation-promise.ts';
import type { Pacing } from './pacing.ts';

/** Remembers how the caller wants the result; the first wish wins. */
export class ModeBox implements ModeSink {
  mode: ConsumeMode | undefined;
  want(mode: ConsumeMode): void {
    this.mode ??= mode;
  }
}

/** What every call through one instrumented client shares. */
export interface ClientState {
  telemetry: Telemetry;
  options: ResolvedOptions;
  clock: Clock;
  random: () => number;
  server: { address?: string; port?: number; azure?: boolean };
  /** The SDK client that sends the requests (its own retries off). */
  client: OpenAI;
  /** Raw clones (retries off) of the fallbacks' own clients, by fallback position. */
  fallbackClients: (OpenAI | undefined)[];
  /** Limiters, retry budget and breakers, shared with sibling clients. */
  pacing: Pacing;
  /** Tag values recorded so far, per key: shared with sibling clients, so the cap is the client's. */
  tagValues: SeenTagValues;
}

export type RequestOptions = Record<string, unknown> & {
  body?: unknown;
  signal?: AbortSignal | null;
  timeout?: number;
  maxRetries?: number;
  headers?: unknown;
};

/** One attempt: the SDK's own request, retries off, returning its `APIPromise`. */
export type Send = (options: RequestOptions) => PromiseLike<unknown> & {
  asResponse(): Promise<Response>;
};

/** A place the call can be served from: the primary (index 0) or a fallback. */
export interface Hop {
  index: number;
  /** The model this hop asks for. */
  model?: string;
  /** The client it sends through: its limiter and breakers are this client's. */
  client: OpenAI;
  send: Send;
}

/** What the loop hands back once an attempt succeeded. */
export interface Served {
  response: Response;
  /** Parsed data (or the wrapped stream); absent when the caller asked for the raw response. */
  data?: unknown;
  hasData: boolean;
  /** The successful attempt's own promise, to parse lazily in raw mode. */
  attempt?: PromiseLike<unknown>;
}

/** How a successful attempt ends, once its body (or its stream) is done. */
export interface LiveAttempt {
  succeeded(): void;
  /** Ends the attempt and the call with this error; returns the error the caller gets. */
  failed(error: unknown): unknown;
  /** The caller aborted while reading. */
  aborted(): void;
  /** The stream, relayed to its end, reported a failed or incomplete response. */
  inBand(failure: InBandFailure): void;
}

/** What the stream handed to the caller reads from. */
export type StreamSource =
  | {
      kind: 'live';
      /** Opening events held inside the attempt (see consume.ts), relayed before `first`. */
      prelude: unknown[];
      first: IteratorResult<unknown>;
      iterator: AsyncIterator<unknown>;
      stream: Stream<unknown>;
      attempt: LiveAttempt;
    }
  | { kind: 'canned'; items: unknown[] };

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A hop that ended without serving the call. */
export class HopFailed {
  readonly error: unknown;
  readonly outcome: Exclude<Outcome, 'success'>;
  constructor(error: unknown, outcome: Exclude<Outcome, 'success'>) {
    this.error = error;
    this.outcome = outcome;
  }
}

/**
 * An attempt whose 200 reported a failed or incomplete response: thrown into
 * the attempt loop like an error, so the policy can retry it, but what the
 * caller finally gets is the answer itself, never an error the SDK would not throw.
 */
export class InBandAnswer {
  readonly failure: InBandFailure;
  /** `error.type`: the response's error code or incomplete reason. */
  readonly errorType: string;
  /** A whole answer: what the caller gets if it is the last. */
  readonly served: Served | undefined;
  /** A stream's events read so far: what the caller's stream yields if it is the last. */
  readonly events: unknown[];
  constructor(failure: InBandFailure, answer: { served: Served } | { events: unknown[] }) {
    this.failure = failure;
    this.errorType = inBandErrorType(failure);
    this.served = 'served' in answer ? answer.served : undefined;
    this.events = 'events' in answer ? answer.events : [];
  }
}
