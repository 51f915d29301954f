/** `retryscope simulate`, run as users run it: a child process of the real CLI entry. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI, { InternalServerError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { CHAT, simulator } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function simulate(args: string[]): Run {
  const child = spawn(process.execPath, ['src/cli/main.ts', 'simulate', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Waits for the start-up line and returns the base URL it announces. */
async function announcedUrl(run: Run): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const match = /on (http:\/\/\S+\/v1) /.exec(run.stdout());
    if (match) return match[1]!;
    if (run.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no start-up line; stdout: ${run.stdout()} stderr: ${run.stderr()}`);
}

async function stop(run: Run): Promise<number | null> {
  run.child.kill('SIGINT');
  return run.exited;
}

const dir = mkdtempSync(join(tmpdir(), 'retryscope-cli-'));

describe('retryscope simulate: bad input is one clear line and exit code 2', () => {
  const invalidFile = join(dir, 'invalid.yaml');
  writeFileSync(
    invalidFile,
    'name: x\nphases:\n  - name: a\n    faults:\n      - { kind: 500, probability: 7 }\n',
  );

  const cases: Array<[string[], string]> = [
    [
      ['--scenario', 'hurricane'],
      'retryscope: unknown scenario "hurricane" (choose one of steady, storm, outage, quota, mixed)',
    ],
    [
      ['--port', '70000'],
      'retryscope: --port must be a whole number from 0 to 65535, got "70000" (e.g. --port 8787)',
    ],
    [['--port', 'eighty'], 'retryscope: --port must be a whole number from 0 to 65535, got "eighty"'],
    [['--duration', '0'], 'retryscope: --duration must be from 1 second to 24 hours, got "0"'],
    [['--duration', 'soon'], 'retryscope: --duration must be from 1 second to 24 hours, got "soon"'],
    [['--seed', '1.5'], 'retryscope: --seed must be a whole number from 0 to 4294967295'],
    [['--rpm', '0'], 'retryscope: --rpm must be a positive number, got "0" (e.g. --rpm 600)'],
    [['--quota-tokens', '-1'], 'retryscope: --quota-tokens must be a whole number from 0 to'],
    [['--fault', '500:2'], 'probability must be a number >= 0 and <= 1 (got 2)'],
    [['--fault', 'teapot:0.1'], 'kind must be one of: 500, 502, 503'],
    [
      ['--fault', 'reset:often:always'],
      'retryscope: --fault "reset:often:always" is not a fault (write KIND:PROBABILITY',
    ],
    [
      ['--scenario-file', join(dir, 'missing.yaml')],
      `retryscope: Cannot read scenario file ${join(dir, 'missing.yaml')}: no such file`,
    ],
    [['--scenario-file', invalidFile], `Invalid scenario in ${invalidFile}: phases[0].faults[0].probability`],
    [['--bogus'], "retryscope: unknown option '--bogus' (see retryscope simulate --help)"],
    [
      ['--scenario', 'storm', '--phase', 'hail'],
      'retryscope: unknown phase "hail" (this scenario has steady, storm, recovery)',
    ],
  ];
  // Stable test names: the temporary directory differs on every run.
  const named = cases.map(
    ([args, expected]) => [args.join(' ').replace(dir, '$TMP'), args, expected] as const,
  );

  it.each(named)('%s', async (_, args, expected) => {
    const run = simulate(args);
    expect(await run.exited).toBe(2);
    const lines = run.stderr().trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(expected);
    expect(lines[0]).toMatch(/^retryscope: .+ \(.+\)$/);
    expect(run.stdout()).toBe('');
  });

  it('a port in use: the input was fine, the run failed: exit code 1', async () => {
    const taken = await simulator();
    const run = simulate(['--port', String(taken.port)]);
    expect(await run.exited).toBe(1);
    expect(run.stderr().trimEnd().split('\n')).toEqual([
      `retryscope: Cannot start the simulator: port ${taken.port} on 127.0.0.1 is already in use (choose another --port, or --port 0 for a free one)`,
    ]);
  });
});

describe('retryscope simulate: running', () => {
  it('announces the URL, serves the SDK on loopback, prints stats on Ctrl-C', async () => {
    const run = simulate(['--port', '0', '--scenario', 'storm', '--seed', '7', '--duration', '90s']);
    const url = await announcedUrl(run);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(run.stdout()).toContain('scenario storm (steady → storm → recovery), seed 7');
    expect(run.stdout()).toContain(`OPENAI_BASE_URL=${url} OPENAI_API_KEY=sk-sim`);
    expect(run.stdout().trimEnd().split('\n')).toHaveLength(1);

    const openai = new OpenAI({ baseURL: url, apiKey: 'sk-sim', maxRetries: 0 });
    await openai.chat.completions.create(CHAT);
    await openai.models.list();

    expect(await stop(run)).toBe(0);
    expect(run.stdout()).toContain(': 2 requests');
    expect(run.stdout()).toContain('by status: 200: 2');
    expect(run.stdout()).toContain('by key:    sk-sim: 2');
    expect(run.stderr()).toBe('');
  });

  it('--phase pins a phase from the first request: a test that needs the storm sets it', async () => {
    const run = simulate(['--port', '0', '--scenario', 'storm', '--phase', 'storm']);
    const url = await announcedUrl(run);
    expect(run.stdout()).toContain('scenario storm (pinned to storm)');
    const openai = new OpenAI({ baseURL: url, apiKey: 'sk-sim', maxRetries: 0 });
    const { response } = await openai.chat.completions.create(CHAT).withResponse();
    // The storm cuts the default 600 RPM to 15%.
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('90');
    expect(await stop(run)).toBe(0);
  });

  it('takes a scenario file, limits and extra faults', async () => {
    const run = simulate([
      '--port',
      '0',
      '--scenario-file',
      'scenarios/flaky-gateway.yaml',
      '--rpm',
      '5',
      '--fault',
      '503:every=2',
    ]);
    const url = await announcedUrl(run);
    expect(run.stdout()).toContain('scenario flaky-gateway (calm → degraded)');
    const openai = new OpenAI({ baseURL: url, apiKey: 'sk-sim', maxRetries: 0 });
    const first = await openai.chat.completions.create(CHAT).withResponse();
    expect(first.response.headers.get('x-ratelimit-limit-requests')).toBe('5');
    await expect(openai.chat.completions.create(CHAT)).rejects.toBeInstanceOf(InternalServerError);
    expect(await stop(run)).toBe(0);
    expect(run.stdout()).toContain('by status: 200: 1, 503: 1');
  });
});

describe('the README quick start against `retryscope simulate`', () => {
  it('with scenarios/quickstart.yaml, the example shows its three attempts: 429, 429, 200', async () => {
    const run = simulate(['--port', '0', '--scenario-file', 'scenarios/quickstart.yaml']);
    const url = await announcedUrl(run);
    const example = spawn(process.execPath, ['--conditions=retryscope-source', 'examples/quickstart.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        OPENAI_BASE_URL: url,
        OPENAI_API_KEY: 'sk-sim',
        OTEL_TRACES_EXPORTER: 'console',
        // No collector here: OTLP export goes nowhere on loopback, warned about once.
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
      },
    });
    children.push(example);
    let out = '';
    example.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    expect(await new Promise((resolve) => example.once('exit', resolve))).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^chat gpt-4o-mini {2}outcome=success attempts=3 /);
    expect(lines[1]).toMatch(
      /^ {2}├─ attempt 1 status=429 backoff_ms=0 \(none\) error.type=RateLimitError code=rate_limit_exceeded remaining_requests=0/,
    );
    // Each retry waited at least the server's retry-after-ms (20); the simulator's headers also
    // say the request bucket is empty, so the client's limiter may hold it longer, and says so.
    const retries = [
      /^ {2}├─ attempt 2 status=429 backoff_ms=(\d+) \((retry-after-ms|limiter)\) error.type=RateLimitError/,
      /^ {2}└─ attempt 3 status=200 backoff_ms=(\d+) \((retry-after-ms|limiter)\)/,
    ];
    retries.forEach((pattern, i) => {
      const line = lines[i + 2] ?? '';
      expect(line).toMatch(pattern);
      expect(Number(pattern.exec(line)![1]), line).toBeGreaterThanOrEqual(20);
    });
    expect(await stop(run)).toBe(0);
    expect(run.stdout()).toContain('by status: 200: 1, 429: 2');
  });
});
