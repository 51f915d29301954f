import type OpenAI from 'openai';
import { APIPromise } from 'openai/core/api-promise';

/** How the caller consumes a call: parsed data (`await`, `.withResponse()`) or the raw `Response`. */
export type ConsumeMode = 'parsed' | 'raw';

export interface ModeSink {
  /** The first wish wins; later ones (e.g. `withResponse()` calling `asResponse()`) are ignored. */
  want(mode: ConsumeMode): void;
}

// The SDK's `APIResponseProps`; only `response` is read by anything downstream of us.
type Props = ConstructorParameters<typeof APIPromise>[1] extends Promise<infer P> ? P : never;
type Parse<T> = (client: OpenAI, props: Props) => Promise<T>;

/**
 * The promise an instrumented call returns: a real `APIPromise`, so
 * `.withResponse()`, `.asResponse()`, `_thenUnwrap()` and `instanceof` all
 * behave as the SDK's own, but backed by retryscope's attempt loop instead of
 * one request. It tells the loop how the caller wants the result, because a
 * raw `Response` must reach the caller with its body unread.
 */
export class OperationPromise<T> extends APIPromise<T> {
  readonly #sink: ModeSink;
  readonly #client: OpenAI;
  readonly #props: Promise<Props>;
  readonly #parse: Parse<T>;

  constructor(client: OpenAI, props: Promise<Props>, parse: Parse<T>, sink: ModeSink) {
    super(client, props, parse as never);
    this.#client = client;
    this.#props = props;
    this.#parse = parse;
    this.#sink = sink;
  }

  // biome-ignore lint/suspicious/noThenProperty: an APIPromise is a thenable by design.
  override then<R1 = never, R2 = never>(
    onfulfilled?: ((value: never) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.#sink.want('parsed');
    return super.then(onfulfilled as never, onrejected) as Promise<R1 | R2>;
  }

  override catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<never> {
    this.#sink.want('parsed');
    return super.catch(onrejected) as Promise<never>;
  }

  override finally(onfinally?: (() => void) | null): Promise<never> {
    this.#sink.want('parsed');
    return super.finally(onfinally) as Promise<never>;
  }

  override asResponse(): Promise<Response> {
    this.#sink.want('raw');
    return super.asResponse();
  }

  override withResponse(): ReturnType<APIPromise<T>['withResponse']> {
    this.#sink.want('parsed');
    return super.withResponse();
  }

  override _thenUnwrap<U>(transform: (data: T, props: Props) => U): APIPromise<U> {
    const parse = this.#parse;
    return new OperationPromise<U>(
      this.#client,
      this.#props,
      async (client, props) => withRequestId(transform(await parse(client, props), props), props.response),
      this.#sink,
    );
  }

  /** Auto-pagination (`for await (const item of client.models.list())`), as the SDK's `PagePromise`. */
  async *[Symbol.asyncIterator](): AsyncGenerator<unknown> {
    const page = (await this) as unknown as AsyncIterable<unknown>;
    for await (const item of page) yield item;
  }
}

/** The SDK's `addRequestID`: a non-enumerable `_request_id` on object results. */
function withRequestId<U>(value: U, response: Response): U {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.defineProperty(value, '_request_id', {
    value: response.headers.get('x-request-id'),
    enumerable: false,
  });
}
