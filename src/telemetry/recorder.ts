import type { MeterProvider } from '@opentelemetry/api';
import {
  type Attributes,
  type Context,
  metrics,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import type { OperationStarted } from '../observer.ts';
import { VERSION } from '../version.ts';
import * as A from './attributes.ts';
import { BudgetGauges } from './budget-gauges.ts';
import { compact } from './compact.ts';
import { createInstruments, type Instruments } from './instruments.ts';
import { OperationRecord } from './operation.ts';
import { metricModel, spanValue } from './redact.ts';
import { safely } from './safely.ts';
import { type GenAiNaming, genAiNaming } from './semconv.ts';

export { MAX_FINISH_REASONS, type Usage } from '../observer.ts';

/** Shorter strings are not treated as secrets: they would match too much. */
const MIN_SECRET_LENGTH = 8;
const MAX_OPERATION_KINDS = 256;
/** What the global proxy hands out while no SDK is registered. */
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * Where one instrumented client records: its tracer, its instruments and the
 * secrets never to record. Each call's observer is an OperationRecord; every
 * entry point is guarded so a telemetry failure cannot reach the caller.
 */
export class Telemetry {
  readonly tracer: Tracer;
  /** API keys of the clients recording here: a server-supplied string containing one is never recorded. */
  readonly secrets = new Set<string>();
  private readonly explicitMeterProvider: MeterProvider | undefined;
  private readonly viaGlobalTracer: boolean;
  private globalMeterProvider: MeterProvider | undefined;
  private current: Instruments;
  private readonly operationAttributes = new Map<string, Attributes>();
  /** Which GenAI metric names this client records (OTEL_SEMCONV_STABILITY_OPT_IN, read once, here). */
  readonly naming: GenAiNaming;

  /** The spend budgets' latest states, observed by their gauges at each export. */
  readonly budgets: BudgetGauges;

  constructor(
    providers: {
      tracerProvider?: TracerProvider;
      meterProvider?: MeterProvider;
      naming?: GenAiNaming;
      /** The client's clock: when a budget's period has ended. */
      now?: () => number;
    } = {},
  ) {
    this.naming = providers.naming ?? genAiNaming();
    this.budgets = new BudgetGauges(providers.now ?? Date.now, (tags) => this.tagAttributes(tags));
    // A provider that throws here costs one warning and records nothing, as any telemetry failure does.
    this.tracer =
      safely('getTracer', () => (providers.tracerProvider ?? trace).getTracer('retryscope', VERSION)) ??
      new ProxyTracerProvider().getTracer('retryscope', VERSION);
    this.viaGlobalTracer = providers.tracerProvider === undefined;
    this.explicitMeterProvider = providers.meterProvider;
    this.globalMeterProvider = providers.meterProvider ? undefined : metrics.getMeterProvider();
    this.current = this.create();
  }

  /**
   * The instruments, from the global meter provider as it is now. Unlike
   * traces, the metrics API has no proxy: a client instrumented before the
   * SDK started would otherwise record into the no-op meter forever.
   */
  get instruments(): Instruments {
    if (!this.explicitMeterProvider) {
      const global = metrics.getMeterProvider();
      if (global !== this.globalMeterProvider) {
        this.globalMeterProvider = global;
        this.current = this.create();
      }
    }
    return this.current;
  }

  private create(): Instruments {
    const instruments = createInstruments(
      this.explicitMeterProvider ?? this.globalMeterProvider,
      this.naming,
    );
    // Refusals are rare: starting their series at 0 lets rate() and increase() see the first one.
    safely('init', () => this.budgets.observeWith(instruments));
    for (const outcome of ['queue_full', 'deadline_exceeded', 'circuit_open']) {
      safely('init', () => instruments.limiterRejected.add(0, { [A.ATTR_OUTCOME]: outcome }));
    }
    return instruments;
  }

  /** Keeps `secret` (a client's API key) out of every server-supplied value recorded. */
  protect(secret: unknown): void {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH || this.secrets.has(secret)) return;
    this.secrets.add(secret);
    // A new secret may redact a model name differently: attributes built before it are stale.
    this.operationAttributes.clear();
  }

  /**
   * The attributes every metric of an operation carries. One shared object per
   * operation, model and server (never mutated), not one per call.
   */
  operationMetricAttributes(start: OperationStarted): Attributes {
    const key = [
      start.operationName,
      start.requestModel,
      start.serverAddress,
      start.serverPort,
      start.azure,
    ].join('\u0000');
    let attributes = this.operationAttributes.get(key);
    if (!attributes) {
      attributes = compact({
        [A.ATTR_GEN_AI_OPERATION_NAME]: start.operationName,
        [A.ATTR_GEN_AI_PROVIDER_NAME]: start.azure ? A.PROVIDER_AZURE_OPENAI : A.PROVIDER_OPENAI,
        [A.ATTR_GEN_AI_REQUEST_MODEL]: this.metricModel(start.requestModel),
        [A.ATTR_SERVER_ADDRESS]: start.serverAddress,
        // The conventions require the port wherever the address is.
        [A.ATTR_SERVER_PORT]: start.serverAddress === undefined ? undefined : start.serverPort,
      });
      // Bounded: a caller cycling through model names must not grow it forever.
      if (this.operationAttributes.size >= MAX_OPERATION_KINDS) this.operationAttributes.clear();
      this.operationAttributes.set(key, attributes);
    }
    return attributes;
  }

  /** A server-supplied string for a span attribute (see redact.ts). */
  spanValue(value: string | undefined): string | undefined {
    return value === undefined ? undefined : spanValue(value, this.secrets);
  }

  /**
   * `retryscope.tag.<key>` for each of a call's tags (already allow-listed and capped by the
   * policy); a value holding the client's API key is `_OTHER`, whoever set it.
   */
  tagAttributes(tags: Readonly<Record<string, string>> | undefined): Attributes {
    const attributes: Attributes = {};
    for (const [key, value] of Object.entries(tags ?? {})) {
      const secret = [...this.secrets].some((s) => value.includes(s));
      attributes[`${A.ATTR_TAG_PREFIX}${key}`] = secret ? A.OTHER : value;
    }
    return attributes;
  }

  /** A model name for a metric attribute (see redact.ts). */
  metricModel(value: unknown): string | undefined {
    return typeof value === 'string' ? metricModel(value, this.secrets) : undefined;
  }

  /** Starts the operation span as a child of `parent` (the caller's active context): the call's observer. */
  startOperation(start: OperationStarted, parent: Context): OperationRecord {
    return new OperationRecord(this, start, parent);
  }

  /**
   * True while the tracer is the global API's with no SDK behind it: every
   * span it starts is a no-op, and building its attributes would be wasted.
   */
  get tracingOff(): boolean {
    if (!this.viaGlobalTracer) return false;
    const provider = trace.getTracerProvider();
    return provider instanceof ProxyTracerProvider && provider.getDelegate() === NOOP_TRACER_PROVIDER;
  }

  /** A CLIENT span; its attributes are built only for a tracer that may record them. */
  startSpan(name: string, parent: Context, attributes: () => Attributes): Span {
    if (this.tracingOff) {
      const span = this.tracer.startSpan(name, { kind: SpanKind.CLIENT }, parent);
      // A span that records after all (a provider set behind the proxy's back) still gets them.
      if (span.isRecording()) span.setAttributes(attributes());
      return span;
    }
    return this.tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes: attributes() }, parent);
  }
}
