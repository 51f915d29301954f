/**
 * The standard OpenTelemetry environment variables, read once into plain
 * settings that both `startTelemetry()` and `retryscope demo` build their
 * exporters, resource and sampler from. Follows the OTel spec's SDK
 * configuration: per-signal variables win over the generic ones, code wins
 * over both. A value that cannot be honoured throws a RetryscopeConfigError
 * that names the variable (never its value: endpoints and headers carry secrets).
 */
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace';
import { RetryscopeConfigError } from '../options.ts';

type Env = Record<string, string | undefined>;
type Resource = ReturnType<typeof resourceFromAttributes>;
export type Protocol = 'http/protobuf' | 'http/json';

/** Where and how one signal is exported over OTLP/HTTP. */
export interface SignalTarget {
  /** The full URL, e.g. `http://localhost:4318/v1/traces`. */
  url: string;
  headers: Record<string, string>;
  protocol: Protocol;
  timeoutMs: number;
  /** The variable (or option) the URL came from, for messages. */
  source: string;
}

export interface TelemetrySettings {
  /** `OTEL_SDK_DISABLED=true`: no SDK, no export, nothing registered. */
  disabled: boolean;
  /** `service.name` (option, else `OTEL_SERVICE_NAME`, else `OTEL_RESOURCE_ATTRIBUTES`, else the default) and `OTEL_RESOURCE_ATTRIBUTES`. */
  resource: Resource;
  serviceName: string;
  /** `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`; default `parentbased_always_on`. */
  sampler: Sampler;
  /** Signals exported over OTLP; a missing one is not exported. */
  traces?: SignalTarget;
  metrics?: SignalTarget;
  /** `OTEL_TRACES_EXPORTER` includes `console`. */
  consoleTraces: boolean;
  /** `OTEL_METRIC_EXPORT_INTERVAL`, else 15 000 ms. */
  metricIntervalMs: number;
  /** `OTEL_BSP_SCHEDULE_DELAY`, else 1 000 ms: how long finished spans wait to be sent in one batch. */
  spanDelayMs: number;
}

export interface TelemetrySettingsOptions {
  /** Wins over `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`. */
  serviceName?: string;
  /** `service.name` when neither the option nor the environment sets one. */
  defaultServiceName: string;
  /** An OTLP base URL for both signals (wins over every endpoint variable); `false` = no OTLP export. */
  otlp?: string | false;
  /**
   * The base URL for a signal that no option or variable points anywhere;
   * `undefined` = such a signal is not exported.
   */
  defaultEndpoint?: string;
  /** Wins over `OTEL_METRIC_EXPORT_INTERVAL`. */
  metricIntervalMs?: number;
  env?: Env;
}

// The spec's 10 s default keeps a dead collector holding the process open at exit; 3 s is ample on a
// local network, and OTEL_EXPORTER_OTLP_TIMEOUT (or the per-signal one) still overrides it.
const DEFAULT_TIMEOUT_MS = 3_000;

/** Reads the OTEL_* variables; throws RetryscopeConfigError naming the first one it cannot honour. */
export function telemetrySettings(options: TelemetrySettingsOptions): TelemetrySettings {
  const env = options.env ?? process.env;
  const disabled = booleanVar(env, 'OTEL_SDK_DISABLED');
  const attributes = keyValueList(env, 'OTEL_RESOURCE_ATTRIBUTES');
  const serviceName =
    options.serviceName ??
    nonEmpty(env.OTEL_SERVICE_NAME) ??
    attributes['service.name'] ??
    options.defaultServiceName;
  const traceExporters = exporterList(env, 'OTEL_TRACES_EXPORTER', ['otlp', 'console', 'none']);
  const metricExporters = exporterList(env, 'OTEL_METRICS_EXPORTER', ['otlp', 'none']);
  const otlp = options.otlp;
  const target = (signal: 'TRACES' | 'METRICS', wanted: boolean) =>
    otlp === false || !wanted ? undefined : signalTarget(env, signal, otlp, options.defaultEndpoint);
  return {
    disabled,
    resource: resourceFromAttributes({ ...attributes, 'service.name': serviceName }),
    serviceName,
    sampler: samplerFrom(env),
    traces: target('TRACES', traceExporters.includes('otlp')),
    metrics: target('METRICS', metricExporters.includes('otlp')),
    consoleTraces: traceExporters.includes('console'),
    metricIntervalMs: options.metricIntervalMs ?? positiveInt(env, 'OTEL_METRIC_EXPORT_INTERVAL') ?? 15_000,
    spanDelayMs: positiveInt(env, 'OTEL_BSP_SCHEDULE_DELAY') ?? 1_000,
  };
}

/**
 * `retryscope demo`'s settings: service.name `retryscope-demo` unless the
 * environment names one, metrics every 5 s, and a signal exported only when
 * `otlp` (the --otlp flag) or an endpoint variable points it somewhere.
 */
export function demoTelemetrySettings(options: { otlp?: string | false; env?: Env } = {}): TelemetrySettings {
  const settings = telemetrySettings({
    defaultServiceName: 'retryscope-demo',
    metricIntervalMs: 5_000,
    ...(options.otlp !== undefined ? { otlp: options.otlp } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  return settings.disabled ? { ...settings, traces: undefined, metrics: undefined } : settings;
}

function signalTarget(
  env: Env,
  signal: 'TRACES' | 'METRICS',
  base: string | undefined,
  defaultEndpoint: string | undefined,
): SignalTarget | undefined {
  const path = `v1/${signal.toLowerCase()}`;
  const perSignal = `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`;
  let url: string;
  let source: string;
  if (base !== undefined) {
    url = joinUrl(httpUrl(base, 'the OTLP base URL'), path);
    source = 'the OTLP base URL';
  } else if (nonEmpty(env[perSignal])) {
    // The spec: a per-signal endpoint is used as is, no path appended.
    url = httpUrl(env[perSignal]!, perSignal);
    source = perSignal;
  } else if (nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT)) {
    url = joinUrl(httpUrl(env.OTEL_EXPORTER_OTLP_ENDPOINT!, 'OTEL_EXPORTER_OTLP_ENDPOINT'), path);
    source = 'OTEL_EXPORTER_OTLP_ENDPOINT';
  } else if (defaultEndpoint !== undefined) {
    url = joinUrl(defaultEndpoint, path);
    source = 'the default endpoint';
  } else {
    return undefined;
  }
  return {
    url,
    source,
    // Per key, the per-signal headers win over the generic ones.
    headers: {
      ...keyValueList(env, 'OTEL_EXPORTER_OTLP_HEADERS'),
      ...keyValueList(env, `OTEL_EXPORTER_OTLP_${signal}_HEADERS`),
    },
    protocol: protocolFrom(env, signal),
    timeoutMs:
      positiveInt(env, `OTEL_EXPORTER_OTLP_${signal}_TIMEOUT`) ??
      positiveInt(env, 'OTEL_EXPORTER_OTLP_TIMEOUT') ??
      DEFAULT_TIMEOUT_MS,
  };
}

function protocolFrom(env: Env, signal: 'TRACES' | 'METRICS'): Protocol {
  const perSignal = `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`;
  const name = nonEmpty(env[perSignal]) !== undefined ? perSignal : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const value = nonEmpty(env[name])?.trim();
  if (value === undefined || value === 'http/protobuf') return 'http/protobuf';
  if (value === 'http/json') return 'http/json';
  throw envError(name, `must be http/protobuf or http/json (got "${value}"; grpc is not supported)`);
}

const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

function samplerFrom(env: Env): Sampler {
  const name = nonEmpty(env.OTEL_TRACES_SAMPLER)?.trim() ?? 'parentbased_always_on';
  if (!SAMPLERS.includes(name))
    throw envError('OTEL_TRACES_SAMPLER', `must be one of ${SAMPLERS.join(', ')}`);
  const root = name.endsWith('always_on')
    ? new AlwaysOnSampler()
    : name.endsWith('always_off')
      ? new AlwaysOffSampler()
      : new TraceIdRatioBasedSampler(ratioFrom(env));
  return name.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
}

function ratioFrom(env: Env): number {
  const text = nonEmpty(env.OTEL_TRACES_SAMPLER_ARG);
  if (text === undefined) return 1;
  const ratio = Number(text);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw envError('OTEL_TRACES_SAMPLER_ARG', 'must be a number from 0 to 1');
  }
  return ratio;
}

function exporterList(env: Env, name: string, allowed: string[]): string[] {
  const text = nonEmpty(env[name]);
  if (text === undefined) return ['otlp'];
  const list = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of list) {
    if (!allowed.includes(item)) throw envError(name, `must list ${allowed.join(', ')} (got "${item}")`);
  }
  return list.includes('none') ? [] : list;
}

/** `key=value,key2=value2`, values percent-decoded (the W3C Baggage format the spec uses). */
function keyValueList(env: Env, name: string): Record<string, string> {
  const text = nonEmpty(env[name]);
  const out: Record<string, string> = {};
  if (text === undefined) return out;
  text.split(',').forEach((entry, i) => {
    if (entry.trim() === '') return;
    const eq = entry.indexOf('=');
    const key = eq > 0 ? entry.slice(0, eq).trim() : '';
    // Entry numbers, not contents: header values are credentials.
    if (!key) throw envError(name, `entry ${i + 1} is not key=value`);
    try {
      out[key] = decodeURIComponent(entry.slice(eq + 1).trim());
    } catch {
      throw envError(name, `entry ${i + 1} (${key}) has a bad percent-encoding`);
    }
  });
  return out;
}

function booleanVar(env: Env, name: string): boolean {
  const text = nonEmpty(env[name])?.trim().toLowerCase();
  if (text === undefined || text === 'false') return false;
  if (text === 'true') return true;
  throw envError(name, 'must be true or false');
}

function positiveInt(env: Env, name: string): number | undefined {
  const text = nonEmpty(env[name]);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw envError(name, 'must be a whole number of milliseconds above 0');
  return n;
}

function httpUrl(text: string, what: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text.trim());
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    // The value is left out: it may carry credentials.
    throw envError(what, 'must be an http(s) URL such as http://localhost:4318');
  }
  return text.trim();
}

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path}`;
}

const nonEmpty = (value: string | undefined) =>
  value === undefined || value.trim() === '' ? undefined : value;

function envError(name: string, problem: string): RetryscopeConfigError {
  return new RetryscopeConfigError(`${name} ${problem}.`);
}
