/**
 * docker-compose.yml checked without a Docker engine: Compose v2's own
 * `config` validates it against the compose spec and resolves it; then every
 * file it mounts must exist and every config in them must hold together
 * (collector and Jaeger pipelines, Prometheus flags and rule mounts, Grafana
 * data sources and dashboards, the demo image).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type CollectorConfig, collectorConfigProblems } from './helpers/otel-config.ts';
import { ROOT, requireTool } from './helpers/tools.ts';

const run = promisify(execFile);
const composeBin = requireTool('docker-compose');

interface Mount {
  type: 'bind' | 'volume';
  source: string;
  target: string;
  read_only?: boolean;
}
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[] | null;
  environment?: Record<string, string>;
  healthcheck?: { test?: string[]; disable?: boolean };
  ports?: { host_ip?: string; target: number; published: string }[];
  volumes?: Mount[];
  depends_on?: Record<string, { condition: string }>;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** Compose's environment without overrides, so the defaults are what is checked. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of Object.keys(env)) {
    if (k.startsWith('COMPOSE_') || (k === 'OTELCOL_CONFIG' && !extra[k]) || k === 'GRAFANA_ADMIN_PASSWORD') {
      delete env[k];
    }
  }
  return env;
}

async function composeConfig(extraEnv: Record<string, string> = {}): Promise<Compose> {
  try {
    const { stdout } = await run(
      composeBin,
      ['-f', join(ROOT, 'docker-compose.yml'), 'config', '--format', 'json'],
      { cwd: ROOT, env: cleanEnv(extraEnv) },
    );
    return JSON.parse(stdout) as Compose;
  } catch (error) {
    const e = error as { stderr?: string };
    throw new Error(`docker-compose config failed:\n${e.stderr ?? String(error)}`);
  }
}

const readYaml = <T>(path: string) => parse(readFileSync(path, 'utf8')) as T;
/** The host file behind a path inside a service's container, via its bind mounts. */
function hostPath(service: Service, containerPath: string): string {
  for (const m of service.volumes ?? []) {
    if (m.type !== 'bind') continue;
    if (containerPath === m.target) return m.source;
    if (containerPath.startsWith(`${m.target}/`))
      return join(m.source, containerPath.slice(m.target.length + 1));
  }
  throw new Error(`${containerPath} is not mounted from the host`);
}
const hostOf = (url: string) => new URL(url.includes('://') ? url : `tcp://${url}`);

describe('docker-compose.yml', () => {
  let compose: Compose;
  let tail: Compose;
  const svc = (name: string) => {
    const s = compose.services[name];
    if (!s) throw new Error(`no service ${name}`);
    return s;
  };

  beforeAll(async () => {
    compose = await composeConfig();
    tail = await composeConfig({ OTELCOL_CONFIG: 'collector-tail-sampling.yaml' });
  });

  it('is valid Compose (schema-checked by docker-compose v2 config) with the five services', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'demo',
      'grafana',
      'jaeger',
      'otel-collector',
      'prometheus',
    ]);
  });

  it('pins every image tag, and Jaeger at 2.20.0 or lower', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.image, name).toMatch(/^[\w./-]+:v?\d+\.\d+\.\d+$/);
    }
    const [major, minor] = svc('jaeger').image!.split(':')[1]!.split('.').map(Number);
    expect(major! * 1000 + minor!).toBeLessThanOrEqual(2020);
  });

  it('gives every service a healthcheck and waits on health, not on start', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.healthcheck?.test?.length, name).toBeGreaterThan(0);
      expect(s.healthcheck?.disable, name).toBeFalsy();
      for (const [dep, d] of Object.entries(s.depends_on ?? {})) {
        expect(d.condition, `${name} -> ${dep}`).toBe('service_healthy');
      }
    }
  });

  it('publishes ports on 127.0.0.1 only', () => {
    const published = Object.values(compose.services).flatMap((s) => s.ports ?? []);
    expect(published.length).toBeGreaterThan(0);
    for (const p of published) expect(p.host_ip, JSON.stringify(p)).toBe('127.0.0.1');
    const ports = published.map((p) => Number(p.published)).sort((a, b) => a - b);
    expect(ports).toEqual([3000, 4317, 4318, 9090, 16686]);
  });

  it('keeps state in named volumes', () => {
    const named = Object.values(compose.services)
      .flatMap((s) => s.volumes ?? [])
      .filter((v) => v.type === 'volume');
    expect(named.map((v) => v.source).sort()).toEqual(['grafana-data', 'prometheus-data']);
    for (const v of named) expect(Object.keys(compose.volumes ?? {})).toContain(v.source);
  });

  it('mounts only files that exist, read-only (Docker would create a missing one as an empty dir)', () => {
    const binds = Object.values(compose.services)
      .flatMap((s) => s.volumes ?? [])
      .filter((v) => v.type === 'bind');
    expect(binds.length).toBe(6);
    for (const b of binds) {
      expect(existsSync(b.source), relative(ROOT, b.source)).toBe(true);
      expect(b.read_only, b.target).toBe(true);
      if (statSync(b.source).isDirectory()) expect(readdirSync(b.source).length, b.source).toBeGreaterThan(0);
    }
  });

  describe('otel-collector', () => {
    const configFile = (c: Compose) => {
      const s = c.services['otel-collector']!;
      const arg = s.command!.find((a) => a.startsWith('--config='))!;
      return hostPath(s, arg.slice('--config='.length));
    };

    it('runs collector.yaml by default and the tail-sampling file when OTELCOL_CONFIG says so', () => {
      expect(configFile(compose)).toBe(join(ROOT, 'stack/otel-collector/collector.yaml'));
      expect(configFile(tail)).toBe(join(ROOT, 'stack/otel-collector/collector-tail-sampling.yaml'));
      // The healthcheck validates the same file the collector runs.
      expect(svc('otel-collector').healthcheck!.test).toContain(svc('otel-collector').command![0]);
    });

    for (const file of ['collector.yaml', 'collector-tail-sampling.yaml']) {
      it(`${file}: pipelines reference defined components, memory_limiter first on intake`, () => {
        const cfg = readYaml<CollectorConfig>(join(ROOT, 'stack/otel-collector', file));
        expect(collectorConfigProblems(cfg)).toEqual([]);
      });

      it(`${file}: OTLP in, traces to Jaeger, metrics to Prometheus's OTLP receiver, span metrics with exemplars`, () => {
        const cfg = readYaml<Record<string, Record<string, Record<string, unknown>>>>(
          join(ROOT, 'stack/otel-collector', file),
        );
        const otlp = cfg.receivers!.otlp as { protocols: Record<string, { endpoint: string }> };
        expect(otlp.protocols.grpc!.endpoint).toBe('0.0.0.0:4317');
        expect(otlp.protocols.http!.endpoint).toBe('0.0.0.0:4318');
        const jaeger = cfg.exporters!['otlp_grpc/jaeger'] as { endpoint: string };
        expect(jaeger.endpoint).toBe('jaeger:4317');
        const prom = cfg.exporters!['otlp_http/prometheus'] as { endpoint: string };
        expect(hostOf(prom.endpoint).host).toBe('prometheus:9090');
        expect(hostOf(prom.endpoint).pathname).toBe('/api/v1/otlp');
        const spans = cfg.connectors!.span_metrics as { namespace: string; exemplars: { enabled: boolean } };
        expect(spans.exemplars.enabled).toBe(true);
        // Jaeger's Monitor tab reads traces_span_metrics_*.
        expect(spans.namespace).toBe('traces.span.metrics');
      });
    }

    it('tail sampling keeps errors and retries, and span metrics still see every span', () => {
      const cfg = readYaml<CollectorConfig & { processors: Record<string, unknown> }>(
        join(ROOT, 'stack/otel-collector/collector-tail-sampling.yaml'),
      );
      const ts = cfg.processors.tail_sampling as { policies: { type: string; [k: string]: unknown }[] };
      const json = JSON.stringify(ts.policies);
      expect(json).toContain('"status_codes":["ERROR"]');
      expect(json).toContain('retryscope.attempts');
      expect(json).toContain('"retried"');
      expect(ts.policies.some((p) => 'invert_match' in ((p[p.type] as object) ?? {}))).toBe(false);
      const pipelines = Object.values(cfg.service.pipelines);
      const sampled = pipelines.filter((p) => p.processors?.includes('tail_sampling'));
      expect(sampled.flatMap((p) => p.exporters)).toEqual(['otlp_grpc/jaeger']);
      const intake = pipelines.find((p) => p.exporters?.includes('span_metrics'))!;
      expect(intake.processors).not.toContain('tail_sampling');
    });
  });

  describe('jaeger', () => {
    const cfg = () => readYaml<unknown>(hostPath(svc('jaeger'), '/etc/jaeger/config.yaml'));

    it('config: pipelines reference defined components', () => {
      expect(collectorConfigProblems(cfg() as CollectorConfig)).toEqual([]);
    });

    it('config: query UI reads traces from memory and the Monitor tab from Prometheus', () => {
      const c = cfg() as {
        extensions: {
          jaeger_query: { storage: { traces: string; metrics: string }; http: { endpoint: string } };
          jaeger_storage: {
            backends: Record<string, unknown>;
            metric_backends: Record<string, { prometheus: { endpoint: string; normalize_calls: boolean } }>;
          };
        };
        exporters: { jaeger_storage_exporter: { trace_storage: string } };
      };
      const { jaeger_query: q, jaeger_storage: st } = c.extensions;
      expect(Object.keys(st.backends)).toContain(q.storage.traces);
      expect(c.exporters.jaeger_storage_exporter.trace_storage).toBe(q.storage.traces);
      const prom = st.metric_backends[q.storage.metrics]!.prometheus;
      expect(hostOf(prom.endpoint).host).toBe('prometheus:9090');
      expect(prom.normalize_calls).toBe(true);
      expect(q.http.endpoint).toBe('0.0.0.0:16686');
    });
  });

  describe('prometheus', () => {
    it('runs with the OTLP receiver and exemplar storage', () => {
      const cmd = svc('prometheus').command!;
      expect(cmd).toContain('--web.enable-otlp-receiver');
      expect(cmd).toContain('--enable-feature=exemplar-storage');
      expect(cmd).toContain('--config.file=/etc/prometheus/prometheus.yml');
    });

    it('promotes service.name, and its rule_files glob lands on the mounted rules', () => {
      const s = svc('prometheus');
      const cfg = readYaml<{ otlp: { promote_resource_attributes: string[] }; rule_files: string[] }>(
        hostPath(s, '/etc/prometheus/prometheus.yml'),
      );
      expect(cfg.otlp.promote_resource_attributes).toContain('service.name');
      for (const glob of cfg.rule_files) {
        const dir = join('/etc/prometheus', glob).replace(/\/[^/]*\*[^/]*$/, '');
        const files = readdirSync(hostPath(s, dir)).filter((f) => f.endsWith('.yml'));
        expect(files.length, glob).toBeGreaterThan(0);
      }
    });
  });

  describe('grafana', () => {
    interface Datasource {
      uid: string;
      type: string;
      url: string;
      jsonData?: {
        exemplarTraceIdDestinations?: { name: string; datasourceUid: string }[];
        tracesToMetrics?: { datasourceUid: string; queries: { query: string }[] };
      };
    }
    const datasources = () =>
      readYaml<{ datasources: Datasource[] }>(
        hostPath(svc('grafana'), '/etc/grafana/provisioning/datasources/datasources.yaml'),
      ).datasources;

    it('is anonymous read-only', () => {
      const env = svc('grafana').environment!;
      expect(env.GF_AUTH_ANONYMOUS_ENABLED).toBe('true');
      expect(env.GF_AUTH_ANONYMOUS_ORG_ROLE).toBe('Viewer');
    });

    it('provisions Prometheus (exemplars to Jaeger) and Jaeger (traces to metrics) at the compose hosts', () => {
      const ds = datasources();
      const byUid = new Map(ds.map((d) => [d.uid, d]));
      const prom = byUid.get('prometheus')!;
      const jaeger = byUid.get('jaeger')!;
      expect(prom.type).toBe('prometheus');
      expect(jaeger.type).toBe('jaeger');
      expect(hostOf(prom.url).host).toBe('prometheus:9090');
      expect(hostOf(jaeger.url).host).toBe('jaeger:16686');
      const ex = prom.jsonData!.exemplarTraceIdDestinations!;
      expect(ex.map((e) => [e.name, e.datasourceUid])).toEqual([['trace_id', 'jaeger']]);
      expect(jaeger.jsonData!.tracesToMetrics!.datasourceUid).toBe('prometheus');
      for (const q of jaeger.jsonData!.tracesToMetrics!.queries) expect(q.query).toContain('{$__tags}');
    });

    it('loads the generated dashboards from the mounted folder, each parsing and using provisioned uids', () => {
      const s = svc('grafana');
      const providers = readYaml<{ providers: { options: { path: string } }[] }>(
        hostPath(s, '/etc/grafana/provisioning/dashboards/dashboards.yaml'),
      ).providers;
      const dir = hostPath(s, providers[0]!.options.path);
      expect(dir).toBe(join(ROOT, 'dashboards/generated'));
      const uids = new Set(datasources().map((d) => d.uid));
      const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
      expect(files.length).toBe(3);
      for (const f of files) {
        const text = readFileSync(join(dir, f), 'utf8');
        JSON.parse(text);
        for (const m of text.matchAll(/"uid": "([^"]+)"/g)) {
          if (!m[1]!.startsWith('retryscope-')) expect(uids, `${f}: ${m[1]}`).toContain(m[1]);
        }
      }
      expect(existsSync(hostPath(s, s.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!))).toBe(true);
    });
  });

  describe('demo', () => {
    it('is built from the root Dockerfile and exports OTLP to the collector', () => {
      const d = svc('demo');
      expect(d.build!.context).toBe(ROOT);
      expect(d.build!.dockerfile).toBe('Dockerfile');
      expect(d.environment!.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector:4318');
      expect(Object.keys(d.depends_on!)).toEqual(['otel-collector']);
    });

    it('Dockerfile: pinned Node base matching the toolchain, copies only what .dockerignore lets in', async () => {
      const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
      const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
        devDependencies: Record<string, string>;
      };
      const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);
      expect(froms.length).toBe(2);
      for (const f of froms) expect(f).toBe(`node:${pkg.devDependencies.node}-bookworm-slim`);
      const allowed = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('!'))
        .map((l) => l.slice(1).replace(/\/$/, ''));
      const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
        m[1]!.split(/\s+/),
      );
      for (const src of copies) {
        expect(
          allowed.some((a) => src === a || src.startsWith(`${a}/`)),
          `${src} is excluded by .dockerignore`,
        ).toBe(true);
        expect(existsSync(join(ROOT, src)), src).toBe(true);
      }
      await run('sh', ['-n', join(ROOT, 'stack/demo/loop.sh')]);
    });
  });
});
