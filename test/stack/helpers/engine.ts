/**
 * A metrics engine started for one test run: a real server process on a free
 * loopback port with a throwaway data dir, accepting OTLP/HTTP protobuf
 * metrics and answering PromQL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

/** One sample of an instant-query vector. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface MetricsEngine {
  name: string;
  baseUrl: string;
  /** Where OTLP/HTTP protobuf metrics are accepted. */
  otlpMetricsUrl: string;
  /** Makes everything ingested so far visible to queries. */
  flush(): Promise<void>;
  /** Instant query; throws on a parse or evaluation error. */
  query(expr: string, timeSeconds?: number): Promise<Sample[]>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
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

export interface EngineProcess {
  child: ChildProcess;
  dataDir: string;
  baseUrl: string;
  output: () => string;
}

/** Spawns `binary` with `args(port, dataDir)` and waits until `readyPath` answers 200. */
export async function spawnEngine(
  name: string,
  binary: string,
  args: (port: number, dataDir: string) => string[],
  readyPath: string,
): Promise<EngineProcess> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `retryscope-${name}-`));
  const child = spawn(binary, args(port, dataDir), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  // Generous: a loaded 2-core machine can take a while to start a Go binary and open its storage.
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) {
      rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`${name} exited ${child.exitCode}:\n${output}`);
    }
    try {
      if ((await fetch(`${baseUrl}${readyPath}`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`${name} not ready after 90s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, dataDir, baseUrl, output: () => output };
}

export async function stopEngine(p: EngineProcess): Promise<void> {
  if (p.child.exitCode === null) {
    const exited = new Promise((r) => p.child.once('exit', r));
    p.child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  }
  rmSync(p.dataDir, { recursive: true, force: true });
}

/** The Prometheus HTTP API's instant query, which both engines speak. */
export async function instantQuery(baseUrl: string, expr: string, timeSeconds?: number): Promise<Sample[]> {
  const params = new URLSearchParams({ query: expr });
  if (timeSeconds !== undefined) params.set('time', String(timeSeconds));
  const res = await fetch(`${baseUrl}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: params,
  });
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
}

/**
 * Runs `expr` on `engine`: it must return finite numbers. A quantile may be
 * NaN for a series that did not move in the window (Grafana draws a gap):
 * rate() counts nothing for a series whose every event came before its first
 * export. Such samples are dropped; at least one must remain.
 */
export async function queryWithData(
  engine: MetricsEngine,
  expr: string,
  at: number,
  source: string,
): Promise<Sample[]> {
  let samples = await engine.query(expr, at);
  if (expr.includes('histogram_quantile')) samples = samples.filter((s) => Number.isFinite(s.value));
  expect(samples.length, `${source} returned no data:\n  ${expr}`).toBeGreaterThan(0);
  for (const s of samples) expect(Number.isFinite(s.value), `${source}: ${JSON.stringify(s)}`).toBe(true);
  return samples;
}
