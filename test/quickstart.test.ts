import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { chatCompletion, rateLimited, ScriptedServer } from './helpers/scripted-server.ts';

const run = promisify(execFile);
/** What each 429 asks the client to wait. */
const RETRY_AFTER_MS = 20;
let server: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => server.close());

test('the README quick start against a server answering 429, 429, 200 prints three attempts under one operation', async () => {
  server.reply(rateLimited(RETRY_AFTER_MS), rateLimited(RETRY_AFTER_MS), {
    json: chatCompletion('Hello there, nice to meet!'),
  });
  const { stdout } = await run(
    process.execPath,
    ['--conditions=retryscope-source', 'examples/quickstart.ts'],
    {
      env: {
        ...process.env,
        OPENAI_BASE_URL: server.url,
        OPENAI_API_KEY: 'sk-quickstart-secret',
        OTEL_TRACES_EXPORTER: 'console',
        // No collector in this test: OTLP export goes nowhere (loopback), warned about once.
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
      },
    },
  );
  expect(server.received).toHaveLength(3);
  const lines = stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^chat gpt-4o-mini {2}outcome=success attempts=3 backoff_total_ms=\d+ /);
  expect(lines[1]).toMatch(
    /^ {2}├─ attempt 1 status=429 backoff_ms=0 \(none\) error.type=RateLimitError code=rate_limit_exceeded/,
  );
  // Each retry waited at least what the server asked for (retry-after-ms: 20), however loaded the
  // machine: no upper bound, since a busy scheduler only ever makes the wait longer. The label is
  // the server's hint, or the client's limiter when it held the call longer than the hint.
  const retries = [
    /^ {2}├─ attempt 2 status=429 backoff_ms=(\d+) \((?:retry-after-ms|limiter)\) error.type=RateLimitError/,
    /^ {2}└─ attempt 3 status=200 backoff_ms=(\d+) \((?:retry-after-ms|limiter)\)$/,
  ];
  retries.forEach((pattern, i) => {
    const line = lines[i + 2] ?? '';
    expect(line).toMatch(pattern);
    expect(Number(pattern.exec(line)![1]), line).toBeGreaterThanOrEqual(RETRY_AFTER_MS);
  });
  expect(lines[4]).toBe('Hello there, nice to meet!');
  expect(stdout).not.toContain('sk-quickstart-secret');
});
