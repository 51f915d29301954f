/**
 * `retryscope` as a user meets it: `--help` is light, and `demo` and
 * `simulate` answer the same mistake with the same line and exit code.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const exec = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<Result> {
  return exec(process.execPath, [...nodeArgs, 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
  }).then(
    (r) => ({ code: 0, ...r }),
    (e: Result) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe('--help', () => {
  test.each([['--help'], ['demo', '--help'], ['simulate', '--help']])(
    '%s loads no OpenTelemetry module, SDK or exporter',
    async (...args) => {
      const log = join(mkdtempSync(join(tmpdir(), 'retryscope-help-')), 'modules.json');
      const { code, stdout } = await cli(args, { RETRYSCOPE_MODULE_LOG: log }, [
        '--import',
        './test/demo/support/log-modules.ts',
      ]);
      expect(code).toBe(0);
      expect(stdout).toContain('Usage: retryscope');
      const loaded = JSON.parse(readFileSync(log, 'utf8')) as string[];
      // The hook saw the CLI itself, so an empty list below is not a hook that saw nothing.
      expect(loaded.some((url) => url.endsWith('/src/cli/main.ts'))).toBe(true);
      expect(loaded.filter((url) => url.includes('@opentelemetry'))).toEqual([]);
      expect(loaded.filter((url) => /\/(openai|cli-progress|yaml|gpt-tokenizer)\//.test(url))).toEqual([]);
      expect(loaded.filter((url) => /\/src\/(demo|telemetry|openai)\//.test(url))).toEqual([]);
    },
  );
});

describe('one wording for errors across commands', () => {
  const FORMAT = /^retryscope: .+ \(.+\)$/;

  test.each([
    [['--seed', '-1'], '--seed must be a whole number from 0 to 4294967295, got "-1" (e.g. --seed 42)'],
    [['--seed', '1.5'], '--seed must be a whole number from 0 to 4294967295, got "1.5" (e.g. --seed 42)'],
    [['--seed', '4294967296'], '--seed must be a whole number from 0 to 4294967295'],
    [['--port', '70000'], '--port must be a whole number from 0 to 65535, got "70000" (e.g. --port 8787)'],
    [['--duration', '0'], '--duration must be from 1 second to 24 hours, got "0"'],
    [['--duration', 'soon'], '--duration must be from 1 second to 24 hours, got "soon"'],
    [
      ['--scenario', 'hurricane'],
      'unknown scenario "hurricane" (choose one of steady, storm, outage, quota, mixed)',
    ],
    [['--bogus'], "unknown option '--bogus'"],
  ])('%j: the same line from demo and simulate, exit code 2', async (args, expected) => {
    for (const command of ['demo', 'simulate']) {
      const { code, stdout, stderr } = await cli([command, ...args]);
      const lines = stderr.trimEnd().split('\n');
      expect(lines, `${command} ${args.join(' ')}`).toHaveLength(1);
      expect(lines[0]).toMatch(FORMAT);
      expect(lines[0]).toContain(`retryscope: ${expected}`);
      expect(code, `${command} ${args.join(' ')}`).toBe(2);
      expect(stdout).toBe('');
    }
  });

  test('an unknown option points at the help of its own command', async () => {
    const { stderr } = await cli(['demo', '--bogus']);
    expect(stderr.trim()).toBe("retryscope: unknown option '--bogus' (see retryscope demo --help)");
    const typo = await cli(['simulate', '--sed', '3']);
    expect(typo.stderr.trim()).toBe(
      "retryscope: unknown option '--sed' (Did you mean --seed? See retryscope simulate --help)",
    );
  });

  test.each([
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'localhost:4318'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'not a url'],
    ['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', 'ftp://example'],
  ])('a bad %s is named, with a fix, and its value is not echoed', async (name, value) => {
    const { code, stderr } = await cli(['demo', '--duration', '1', '--no-progress'], { [name]: value });
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    // An endpoint can carry credentials (userinfo, a query key), so the message names the variable, not its value.
    expect(stderr.trim()).toBe(
      `retryscope: ${name} must be an http(s) URL such as http://localhost:4318 (correct it, or unset it)`,
    );
  });

  test('--real without OPENAI_API_KEY names the variable', async () => {
    const { code, stderr } = await cli(['demo', '--real'], { OPENAI_API_KEY: '' });
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      'retryscope: OPENAI_API_KEY is not set, and --real needs a real key (set OPENAI_API_KEY, or drop --real: the simulator needs no key)',
    );
  });
});
