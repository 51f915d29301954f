/**
 * The standard OTEL_* environment, as an app configured only by it sees it:
 * a child process calling `startTelemetry()` with no options exports to an
 * OTLP receiver on loopback (traces, and metrics where protobuf is not the
 * point) and to a real VictoriaMetrics (metrics). Everything is exported at
 * shutdown, so no test waits on an export interval.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { RetryscopeConfigError } from '../../src/options.ts';
import { telemetrySettings } from '../../src/telemetry/env.ts';
import { startTelemetry } from '../../src/telemetry/setup.ts';
import { OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { chatCompletion, ScriptedServer } from '../helpers/scripted-server.ts';
import type { MetricsEngine } from '../stack/helpers/engine.ts';
import { requireTool } from '../stack/helpers/tools.ts';
import { startVictoriaMetrics } from '../stack/helpers/victoria-metrics.ts';

const exec = promisify(execFile);
const CALLS = 4;
let api: ScriptedServer;
let vm: MetricsEngine;
const receivers: OtlpReceiver[] = [];

beforeAll(async () => {
  api = await new ScriptedServer().start();
  api.reply({ json: chatCompletion('fine') });
  vm = await startVictoriaMetrics(requireTool('victoria-metrics'));
});
afterAll(async () => {
  await api.close();
  await vm.stop();
});
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

async function receiver(): Promise<OtlpReceiver> {
  const r = await new OtlpReceiver().start();
  receivers.push(r);
  return r;
}

/** The parent's environment without any OTEL_* a developer's shell may carry, plus `otel`. */
function envWith(otel: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  return { ...env, OPENAI_BASE_URL: api.url, CALLS: String(CALLS), ...otel };
}

/** Runs test/fixtures/env-app.ts (startTelemetry() with no options) under `otel`; returns its calls' count. */
async function runApp(otel: Record<string, string>, calls = CALLS): Promise<number> {
  const { stdout } = await exec(
    process.execPath,
    ['--conditions=retryscope-source', 'test/fixtures/env-app.ts'],
    { env: { ...envWith(otel), CALLS: String(calls) } },
  );
  return (JSON.parse(stdout.trim().split('\n').at(-1)!) as { ok: number }).ok;
}

/** Operations VictoriaMetrics counted for `service`. */
async function operationsIn(service: string): Promise<number> {
  await vm.flush();
  // At the next whole second, as the stack tests query: with no time given, samples written this
  // same second were missed.
  const samples = await vm.query(
    `sum(gen_ai_client_operation_duration_seconds_count{service_name="${service}"})`,
    Math.ceil(Date.now() / 1000),
  );
  return samples[0]?.value ?? 0;
}

describe('endpoints', () => {
  test('the generic OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/traces and /v1/metrics appended', async () => {
    const r = await receiver();
    expect(await runApp({ OTEL_EXPORTER_OTLP_ENDPOINT: `${r.url}/` })).toBe(CALLS);
    expect(r.requests('/v1/traces')).toBeGreaterThan(0);
    expect(r.requests('/v1/metrics')).toBeGreaterThan(0);
    expect(r.bodies.map((b) => b.path).filter((p) => p !== '/v1/traces' && p !== '/v1/metrics')).toEqual([]);
  });

  test('per-signal endpoints are used as they are and win over the generic one: traces to a receiver, metrics to VictoriaMetrics', async () => {
    const generic = await receiver();
    const traces = await receiver();
    const ok = await runApp({
      OTEL_SERVICE_NAME: 'env-split',
      OTEL_EXPORTER_OTLP_ENDPOINT: generic.url,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${traces.url}/custom/traces`,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: vm.otlpMetricsUrl,
    });
    expect(ok).toBe(CALLS);
    expect(generic.bodies).toEqual([]);
    expect(new Set(traces.bodies.map((b) => b.path))).toEqual(new Set(['/custom/traces']));
    const operations = traces.spans('/custom/traces').filter((s) => s.attributes['retryscope.outcome']);
    expect(operations).toHaveLength(CALLS);
    expect(await operationsIn('env-split')).toBe(CALLS);
  });
});

test('per-signal headers and protocols win over the generic ones', async () => {
  const r = await receiver();
  await runApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: r.url,
    OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=acme,authorization=Bearer%20generic',
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'authorization=Bearer%20traces-only',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
  });
  const traces = r.bodies.filter((b) => b.path === '/v1/traces');
  const metrics = r.bodies.filter((b) => b.path === '/v1/metrics');
  expect(traces.length).toBeGreaterThan(0);
  expect(metrics.length).toBeGreaterThan(0);
  for (const b of traces) {
    expect(b.contentType).toBe('application/json');
    expect(b.headers.authorization).toBe('Bearer traces-only');
    expect(b.headers['x-tenant']).toBe('acme');
  }
  for (const b of metrics) {
    expect(b.contentType).toBe('application/x-protobuf');
    expect(b.headers.authorization).toBe('Bearer generic');
    expect(b.headers['x-tenant']).toBe('acme');
  }
});

describe('resource', () => {
  const resourceOf = async (otel: Record<string, string>) => {
    const r = await receiver();
    await runApp({ OTEL_EXPORTER_OTLP_ENDPOINT: r.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', ...otel });
    const resources = r.resources();
    expect(resources.length).toBeGreaterThan(0);
    return resources[0]!;
  };
  const ATTRIBUTES = 'service.name=from-attributes,deployment.environment.name=staging,team=a%20b%2Cc';

  test('OTEL_RESOURCE_ATTRIBUTES is on every span batch, percent-decoded', async () => {
    expect(await resourceOf({ OTEL_RESOURCE_ATTRIBUTES: ATTRIBUTES })).toMatchObject({
      'service.name': 'from-attributes',
      'deployment.environment.name': 'staging',
      team: 'a b,c',
    });
  });

  test('OTEL_SERVICE_NAME wins over a service.name in OTEL_RESOURCE_ATTRIBUTES', async () => {
    const resource = await resourceOf({
      OTEL_RESOURCE_ATTRIBUTES: ATTRIBUTES,
      OTEL_SERVICE_NAME: 'from-env',
    });
    expect(resource).toMatchObject({ 'service.name': 'from-env', 'deployment.environment.name': 'staging' });
  });

  test('the serviceName option wins over both', () => {
    const settings = telemetrySettings({
      serviceName: 'from-code',
      defaultServiceName: 'default',
      env: { OTEL_SERVICE_NAME: 'from-env', OTEL_RESOURCE_ATTRIBUTES: ATTRIBUTES },
    });
    expect(settings.resource.attributes['service.name']).toBe('from-code');
    expect(settings.resource.attributes.team).toBe('a b,c');
  });
});

describe('sampling', () => {
  test('OTEL_TRACES_SAMPLER=always_off exports no spans; metrics still flow; calls are unaffected', async () => {
    const r = await receiver();
    expect(
      await runApp({
        OTEL_EXPORTER_OTLP_ENDPOINT: r.url,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_TRACES_SAMPLER: 'always_off',
      }),
    ).toBe(CALLS);
    expect(r.spans()).toEqual([]);
    expect(r.requests('/v1/metrics')).toBeGreaterThan(0);
  });

  test('parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG keeps some traces, each whole', async () => {
    const r = await receiver();
    const calls = 40;
    await runApp(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: r.url,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.5',
      },
      calls,
    );
    const spans = r.spans();
    const operations = spans.filter((s) => s.attributes['retryscope.outcome'] !== undefined);
    // A 0.5 ratio over 40 random trace ids: all or none has odds of 2 in 10^12.
    expect(operations.length).toBeGreaterThan(0);
    expect(operations.length).toBeLessThan(calls);
    // The attempt follows its operation's decision: every kept attempt's parent is kept too.
    const ids = new Set(operations.map((s) => s.spanId));
    const attempts = spans.filter((s) => s.attributes['retryscope.attempt'] !== undefined);
    expect(attempts).toHaveLength(operations.length);
    for (const a of attempts) expect(ids.has(a.parentSpanId!)).toBe(true);
  });
});

test('OTEL_SDK_DISABLED=true: nothing is exported or registered, and every call succeeds', async () => {
  const r = await receiver();
  expect(await runApp({ OTEL_EXPORTER_OTLP_ENDPOINT: r.url, OTEL_SDK_DISABLED: 'true' })).toBe(CALLS);
  expect(r.bodies).toEqual([]);
});

describe('`retryscope demo` reads the same variables', () => {
  /** A one-second demo (presence, not counts) under `otel`; returns its JSON report. */
  async function demo(otel: Record<string, string>): Promise<{ operations: { total: number } }> {
    const { stdout } = await exec(
      process.execPath,
      ['src/cli/main.ts', 'demo', '--duration', '1', '--json', '--no-progress'],
      { env: envWith(otel) },
    );
    return JSON.parse(stdout);
  }

  test('per-signal endpoint, headers and resource attributes', async () => {
    const generic = await receiver();
    const traces = await receiver();
    const report = await demo({
      OTEL_EXPORTER_OTLP_ENDPOINT: generic.url,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${traces.url}/custom/traces`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-tenant=demo',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=ci',
    });
    expect(report.operations.total).toBeGreaterThan(0);
    // Metrics on the generic endpoint (with /v1/metrics appended), traces only on their own.
    expect(new Set(generic.bodies.map((b) => b.path))).toEqual(new Set(['/v1/metrics']));
    expect(new Set(traces.bodies.map((b) => b.path))).toEqual(new Set(['/custom/traces']));
    for (const b of traces.bodies) expect(b.headers['x-tenant']).toBe('demo');
    for (const b of generic.bodies) expect(b.headers['x-tenant']).toBeUndefined();
    expect(traces.resources('/custom/traces')[0]).toMatchObject({
      'service.name': 'retryscope-demo',
      'deployment.environment.name': 'ci',
    });
  });

  test('the sampler thins what is exported, not what the report counts', async () => {
    const r = await receiver();
    const report = await demo({
      OTEL_EXPORTER_OTLP_ENDPOINT: r.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_TRACES_SAMPLER: 'always_off',
      OTEL_SERVICE_NAME: 'demo-renamed',
    });
    expect(report.operations.total).toBeGreaterThan(0);
    expect(r.spans()).toEqual([]);
    expect(r.requests('/v1/metrics')).toBeGreaterThan(0);
    const metrics = r.bodies.find((b) => b.path === '/v1/metrics')!;
    expect(metrics.body.toString('utf8')).toContain('demo-renamed');
  });

  test('OTEL_SDK_DISABLED=true: the report, and nothing exported', async () => {
    const r = await receiver();
    const report = await demo({ OTEL_EXPORTER_OTLP_ENDPOINT: r.url, OTEL_SDK_DISABLED: 'true' });
    expect(report.operations.total).toBeGreaterThan(0);
    expect(r.bodies).toEqual([]);
  });
});

describe('a variable that cannot be honoured is one clear error naming it', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  test.each([
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector.internal:4318', /must be an http\(s\) URL/],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'ftp://user:s3cret@host/v1/traces', /must be an http\(s\) URL/],
    ['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', 'not a url', /must be an http\(s\) URL/],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc', /http\/protobuf or http\/json/],
    ['OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', 'http/xml', /http\/protobuf or http\/json/],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'authorization', /entry 1 is not key=value/],
    ['OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'x-key=%zz', /bad percent-encoding/],
    ['OTEL_EXPORTER_OTLP_TIMEOUT', 'soon', /whole number/],
    ['OTEL_RESOURCE_ATTRIBUTES', '=orphan', /not key=value/],
    ['OTEL_TRACES_SAMPLER', 'jaeger_remote', /must be one of always_on/],
    ['OTEL_TRACES_SAMPLER_ARG', '2', /from 0 to 1/],
    ['OTEL_SDK_DISABLED', 'yes', /true or false/],
    ['OTEL_TRACES_EXPORTER', 'zipkin', /must list otlp, console, none/],
    ['OTEL_METRICS_EXPORTER', 'prometheus', /must list otlp, none/],
    ['OTEL_METRIC_EXPORT_INTERVAL', '-1', /whole number/],
  ])('%s=%s', (name, value, problem) => {
    for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_')) vi.stubEnv(k, undefined);
    // The traces sampler's argument is read only for a ratio sampler.
    if (name === 'OTEL_TRACES_SAMPLER_ARG') vi.stubEnv('OTEL_TRACES_SAMPLER', 'traceidratio');
    vi.stubEnv(name, value);
    let thrown: unknown;
    try {
      startTelemetry({ flushOnSignals: false });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(RetryscopeConfigError);
    const message = (thrown as Error).message;
    expect(message.startsWith(`${name} `), message).toBe(true);
    expect(message).toMatch(problem);
    // Endpoints and headers may carry credentials: their values are never echoed.
    if (/ENDPOINT|HEADERS/.test(name)) expect(message).not.toContain(value);
    expect(message).not.toContain('s3cret');
  });

  test('`retryscope demo` says so in one line and exits 2, as for any usage error', async () => {
    const run = exec(process.execPath, ['src/cli/main.ts', 'demo', '--duration', '1', '--no-progress'], {
      env: envWith({ OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318' }),
    });
    const failure = (await run.then(
      () => undefined,
      (error: unknown) => error,
    )) as { code: number; stderr: string } | undefined;
    expect(failure?.code).toBe(2);
    expect(failure?.stderr.trim()).toBe(
      'retryscope: OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL such as http://localhost:4318 (correct it, or unset it)',
    );
  });
});
