import { instantQuery, type MetricsEngine, spawnEngine, stopEngine } from './engine.ts';

/** A throwaway single-node VictoriaMetrics that names OTLP metrics the Prometheus way. */
export async function startVictoriaMetrics(binary: string): Promise<MetricsEngine> {
  const p = await spawnEngine(
    'victoria-metrics',
    binary,
    (port, dataDir) => [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${dataDir}`,
      '-retentionPeriod=1d',
      // The names the dashboards use: dots to underscores, _total, unit suffixes.
      '-opentelemetry.usePrometheusNaming',
      // Query what was just written, not only what is 30s old (the default).
      '-search.latencyOffset=0s',
      '-search.disableCache',
      '-loggerLevel=ERROR',
    ],
    '/health',
  );
  return {
    name: 'VictoriaMetrics',
    baseUrl: p.baseUrl,
    otlpMetricsUrl: `${p.baseUrl}/opentelemetry/v1/metrics`,
    async flush() {
      const res = await fetch(`${p.baseUrl}/internal/force_flush`);
      if (!res.ok) throw new Error(`force_flush: HTTP ${res.status}`);
    },
    query: (expr, t) => instantQuery(p.baseUrl, expr, t),
    stop: () => stopEngine(p),
  };
}
