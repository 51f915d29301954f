import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One sample of an instant-query vector. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface VictoriaMetrics {
  baseUrl: string;
  /** Where OTLP/HTTP protobuf metrics are accepted. */
  otlpMetricsUrl: string;
  /** Makes everything ingested so far visible to queries. */
  flush(): Promise<void>;
  /** Instant query; throws on a parse or evaluation error. */
  query(expr: string, timeSeconds?: number): Promise<Sample[]>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

async function waitReady(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`victoria-metrics exited ${child.exitCode}:\n${log()}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`victoria-metrics not ready after 30s:\n${log()}`);
}

/** Starts a throwaway single-node VictoriaMetrics on a free loopback port. */
export async function startVictoriaMetrics(binary: string): Promise<VictoriaMetrics> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'retryscope-vm-'));
  const args = [
    `-httpListenAddr=127.0.0.1:${port}`,
    `-storageDataPath=${dataDir}`,
    '-retentionPeriod=1d',
    // The names the dashboards use: dots to underscores, _total, unit suffixes.
    '-opentelemetry.usePrometheusNaming',
    // Query what was just written, not only what is 30s old (the default).
    '-search.latencyOffset=0s',
    '-search.disableCache',
    '-loggerLevel=ERROR',
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitReady(baseUrl, child, () => output);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }

  return {
    baseUrl,
    otlpMetricsUrl: `${baseUrl}/opentelemetry/v1/metrics`,
    async flush() {
      const res = await fetch(`${baseUrl}/internal/force_flush`);
      if (!res.ok) throw new Error(`force_flush: HTTP ${res.status}`);
    },
    async query(expr, timeSeconds) {
      const params = new URLSearchParams({ query: expr });
      if (timeSeconds !== undefined) params.set('time', String(timeSeconds));
      const res = await fetch(`${baseUrl}/api/v1/query?${params}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (!res.ok || body.status !== 'success' || !body.data) {
        throw new Error(`query failed (HTTP ${res.status}): ${body.error ?? 'no data'}\n  ${expr}`);
      }
      if (body.data.resultType !== 'vector') {
        throw new Error(`expected a vector, got ${body.data.resultType}\n  ${expr}`);
      }
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
