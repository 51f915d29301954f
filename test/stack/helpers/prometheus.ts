/**
 * A real Prometheus 3 holding the same series as a fed VictoriaMetrics, so
 * every query also runs on the PromQL engine and rule manager the stack ships
 * (VictoriaMetrics' MetricsQL is more lenient, and its rate()/increase()
 * count a counter's first sample where Prometheus's do not).
 *
 * Debian builds Prometheus without its OTLP receiver, so the series are
 * copied over instead: VictoriaMetrics' export, as OpenMetrics, through
 * `promtool tsdb create-blocks-from openmetrics` into a fresh TSDB.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { instantQuery, type MetricsEngine, spawnEngine, stopEngine } from './engine.ts';
import { ROOT } from './tools.ts';

const run = promisify(execFile);

/** The stack's own prometheus.yml, so its rule files are what gets loaded. */
export const PROMETHEUS_CONFIG = join(ROOT, 'stack/prometheus/prometheus.yml');

interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

const escapeLabel = (v: string) => v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

/** VictoriaMetrics' JSON-lines export as an OpenMetrics text file (untyped families). */
export function toOpenMetrics(jsonLines: string): string {
  const series = jsonLines
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ExportedSeries);
  series.sort((a, b) => (a.metric.__name__ ?? '').localeCompare(b.metric.__name__ ?? ''));
  const lines: string[] = [];
  for (const s of series) {
    const { __name__: name, ...labels } = s.metric;
    const body = Object.entries(labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      .join(',');
    s.timestamps.forEach((t, i) => {
      lines.push(`${name}{${body}} ${s.values[i]} ${(t / 1000).toFixed(3)}`);
    });
  }
  return `${lines.join('\n')}\n# EOF\n`;
}

/** Starts Prometheus on a TSDB built from everything `source` holds. */
export async function startPrometheusFrom(
  binary: string,
  promtool: string,
  source: MetricsEngine,
): Promise<MetricsEngine> {
  // An explicit end: by default the export stops short of the newest second.
  const params = new URLSearchParams({
    'match[]': '{__name__!=""}',
    end: String(Math.ceil(Date.now() / 1000) + 60),
  });
  const res = await fetch(`${source.baseUrl}/api/v1/export?${params}`);
  if (!res.ok) throw new Error(`export from ${source.name}: HTTP ${res.status}`);
  const work = mkdtempSync(join(tmpdir(), 'retryscope-openmetrics-'));
  const tsdb = mkdtempSync(join(tmpdir(), 'retryscope-prometheus-tsdb-'));
  try {
    const file = join(work, 'series.om.txt');
    writeFileSync(file, toOpenMetrics(await res.text()));
    await run(promtool, ['tsdb', 'create-blocks-from', 'openmetrics', file, tsdb]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const p = await spawnEngine(
    'prometheus',
    binary,
    (port) => [
      `--config.file=${PROMETHEUS_CONFIG}`,
      `--storage.tsdb.path=${tsdb}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--enable-feature=exemplar-storage',
      '--log.level=warn',
    ],
    '/-/ready',
  );
  return {
    name: 'Prometheus',
    baseUrl: p.baseUrl,
    otlpMetricsUrl: '',
    flush: async () => {},
    query: (expr, t) => instantQuery(p.baseUrl, expr, t),
    async stop() {
      await stopEngine(p);
      rmSync(tsdb, { recursive: true, force: true });
    },
  };
}
