/**
 * Telemetry is best-effort: a backend that is down, slow or answering 500
 * changes nothing for the app, costs one warning, and cannot hold shutdown.
 * Each case runs a real child process, as an app would.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { OtlpReceiver, type ReceiverMode } from '../helpers/otlp-receiver.ts';
import { chatCompletion, ScriptedServer } from '../helpers/scripted-server.ts';

const exec = promisify(execFile);
const APP = ['--conditions=retryscope-source', 'test/fixtures/telemetry-app.ts'];
let api: ScriptedServer;
beforeAll(async () => {
  api = await new ScriptedServer().start();
  api.reply({ json: chatCompletion('fine') });
});
afterAll(() => api.close());

async function runApp(otlpUrl: string, calls = 30, nodeFlags: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const { stdout } = await exec(process.execPath, [...nodeFlags, ...APP], {
    env: { ...process.env, OPENAI_BASE_URL: api.url, OTLP_URL: otlpUrl, CALLS: String(calls), ...env },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    ok: number;
    warnings: number;
    shutdownMs: number;
    heapGrowthMb?: number;
  };
}

describe('a telemetry backend that misbehaves', () => {
  test.each<ReceiverMode>(['error', 'hang'])(
    'answering %s: every call succeeds, one warning, shutdown is bounded',
    async (mode) => {
      const receiver = await new OtlpReceiver().start();
      receiver.mode = mode;
      try {
        // An export timeout far beyond the app's 1.5 s shutdownTimeoutMs: a hung export, unbounded,
        // would hold shutdown for the span processor's 30 s export timeout.
        const result = await runApp(receiver.url, 30, [], { OTEL_EXPORTER_OTLP_TIMEOUT: '120000' });
        expect(result.ok).toBe(30);
        expect(result.warnings).toBe(1);
        // Bounded by shutdownTimeoutMs (1.5 s), not by the export: under the 30 s an unbounded wait takes,
        // with room for a loaded machine.
        expect(result.shutdownMs).toBeLessThan(20_000);
        expect(receiver.bodies.length).toBeGreaterThan(0);
      } finally {
        await receiver.close();
      }
    },
  );

  test('memory stays bounded while the backend hangs: spans beyond the export queue are dropped', async () => {
    const receiver = await new OtlpReceiver().start();
    receiver.mode = 'hang';
    try {
      // 10 000 calls make 20 000 spans; the export queue holds 2 048 of them.
      // A long export timeout keeps the first export hanging all run long, so only the queue bound helps.
      const result = await runApp(receiver.url, 10_000, ['--expose-gc'], {
        OTEL_EXPORTER_OTLP_TIMEOUT: '120000',
      });
      expect(result.ok).toBe(10_000);
      expect(result.heapGrowthMb).toBeDefined();
      // Measured: about 2 MB with the bounded queue, about 18 MB with an unbounded one.
      expect(result.heapGrowthMb!).toBeLessThan(8);
    } finally {
      await receiver.close();
    }
    // About 16 s of CPU in the child; a loaded 2-core machine (load average 15) stretched it to 64 s.
  }, 300_000);

  test('down (nothing listening): every call succeeds and exactly one warning is printed', async () => {
    const result = await runApp('http://127.0.0.1:9');
    expect(result.ok).toBe(30);
    expect(result.warnings).toBe(1);
  });
});

test('a process that gets SIGTERM flushes its spans before it exits', async () => {
  const receiver = await new OtlpReceiver().start();
  try {
    const child = spawn(process.execPath, APP, {
      env: {
        ...process.env,
        OPENAI_BASE_URL: api.url,
        OTLP_URL: receiver.url,
        CALLS: '12',
        WAIT_FOR_SIGTERM: '1',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        // No scheduled export before the signal, however slow the machine: only the flush on SIGTERM sends.
        OTEL_BSP_SCHEDULE_DELAY: '600000',
      },
    });
    // Its calls are done once it prints its line.
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the app exited (${code}) before its calls were done`)));
    });
    const exportedBefore = receiver.spans().length;
    const exit = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    child.kill('SIGTERM');
    expect(await exit).toBe('SIGTERM');
    const ops = receiver.spans().filter((s) => s.attributes['retryscope.outcome'] !== undefined);
    expect(ops).toHaveLength(12);
    expect(exportedBefore).toBe(0);
    expect(JSON.stringify(receiver.spans())).not.toContain('sk-fixture-secret');
  } finally {
    await receiver.close();
  }
});
