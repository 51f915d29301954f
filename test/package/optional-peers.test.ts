/**
 * The entry points that need optional peers, with those peers made
 * unresolvable in a child process (test/fixtures/hide-packages.mjs), as in
 * an app that installed retryscope alone.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_PEERS, installLine, TELEMETRY_PEERS, TOKENIZER_PEER } from '../../src/optional-peers.ts';
import { VERSION } from '../../src/version.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const HIDE = join(ROOT, 'test/fixtures/hide-packages.mjs');
const execFileP = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'retryscope-peers-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function node(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return execFileP(process.execPath, ['--import', HIDE, '--conditions=retryscope-source', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: Result) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe('retryscope/telemetry without the OpenTelemetry SDK', () => {
  const importIt = (hidden: string) =>
    node(['--input-type=module', '-e', "await import('retryscope/telemetry')"], { HIDE_PACKAGES: hidden });

  // The first package setup.ts imports, one only pipeline.ts imports, and one only the SDK itself imports.
  for (const hidden of [
    '@opentelemetry/sdk-node',
    '@opentelemetry/exporter-metrics-otlp-proto',
    '@opentelemetry/core',
  ]) {
    it(`says in one line what to install when ${hidden} is missing`, async () => {
      const r = await importIt(hidden);
      expect(r.code).not.toBe(0);
      // Node prints the throwing source line, then the error: one line, with the command.
      const lines = r.stderr.split('\n').filter((l) => l.includes('is not installed'));
      expect(lines).toEqual([
        `MissingPeerError: retryscope/telemetry needs the OpenTelemetry SDK (${hidden} is not installed): ${installLine(TELEMETRY_PEERS)}`,
      ]);
      // Not Node's resolution error for whichever package came first.
      expect(r.stderr).not.toContain('Cannot find package');
      expect(r.stderr).not.toContain('ERR_MODULE_NOT_FOUND');
    });
  }

  it('loads with them installed, exporting what setup.ts exports', async () => {
    const r = await node([
      '--input-type=module',
      '-e',
      "const a = await import('retryscope/telemetry'); const b = await import('./src/telemetry/setup.ts');" +
        'console.log(JSON.stringify([Object.keys(a).sort(), Object.keys(b).sort(), a.startTelemetry === b.startTelemetry]))',
    ]);
    expect(r.stderr).toBe('');
    const [entry, setup, same] = JSON.parse(r.stdout) as [string[], string[], boolean];
    expect(entry).toEqual(setup);
    expect(entry).toContain('startTelemetry');
    expect(same).toBe(true);
  });

  it('a CommonJS app can require() it (the entry has no top-level await), and gets the same line', async () => {
    const script = "console.log(typeof require('retryscope/telemetry').startTelemetry)";
    const ok = await node(['--input-type=commonjs', '-e', script]);
    expect(ok.stderr).toBe('');
    expect(ok.stdout.trim()).toBe('function');
    const missing = await node(['--input-type=commonjs', '-e', script], {
      HIDE_PACKAGES: '@opentelemetry/sdk-trace',
    });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(
      `MissingPeerError: retryscope/telemetry needs the OpenTelemetry SDK (@opentelemetry/sdk-trace is not installed): ${installLine(TELEMETRY_PEERS)}`,
    );
  });

  it('the install line names every package setup.ts, pipeline.ts and env.ts import', () => {
    const sources = ['setup.ts', 'pipeline.ts', 'env.ts', 'console-tree.ts']
      .map((f) => readFileSync(join(ROOT, 'src/telemetry', f), 'utf8'))
      .join('\n');
    const imported = [...sources.matchAll(/from '(@opentelemetry\/[^'/]+)/g)].map((m) => m[1]!);
    for (const name of new Set(imported)) {
      if (name !== '@opentelemetry/api') expect(TELEMETRY_PEERS as readonly string[], name).toContain(name);
    }
  });
});

describe('retryscope/simulator without yaml', () => {
  it('imports and reads JSON scenario files; a YAML file fails with one line that says what to install', async () => {
    const json = join(work, 'tiny.json');
    writeFileSync(json, JSON.stringify({ name: 'tiny', phases: [{ name: 'calm' }] }));
    const script =
      "const sim = await import('retryscope/simulator');" +
      `const def = sim.loadScenarioFile(${JSON.stringify(json)});` +
      "let message = ''; try { sim.loadScenarioFile('scenarios/storm.yaml'); } catch (e) { message = e.message; }" +
      'console.log(JSON.stringify({ name: def.name, message }))';
    const r = await node(['--input-type=module', '-e', script], { HIDE_PACKAGES: 'yaml' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      name: 'tiny',
      message:
        'Cannot read scenario file scenarios/storm.yaml: YAML needs the yaml package (npm install yaml), or use JSON',
    });
  });
});

describe('the retryscope executable without its CLI libraries (as `npx retryscope` installs it)', () => {
  const bin = join(ROOT, 'src/cli/bin.ts');
  const fakeNpm = join(ROOT, 'test/fixtures/fake-npm.mjs');

  it('runs the same command again through npm exec with its peers, and passes on the exit code', async () => {
    const out = join(work, 'npm-args.json');
    const r = await node([bin, 'demo', '--duration', '3'], {
      HIDE_PACKAGES: 'commander',
      npm_execpath: fakeNpm,
      FAKE_NPM_OUT: out,
    });
    expect(r.code).toBe(7);
    expect(r.stderr.split('\n')[0]).toBe(
      `retryscope: the CLI's dependencies are not installed here; running it through npm exec with them (or: ${installLine(CLI_PEERS)})`,
    );
    const recorded = JSON.parse(readFileSync(out, 'utf8')) as { argv: string[]; reexec: string | null };
    expect(recorded.reexec).toBe('1');
    const specs = [...CLI_PEERS, TOKENIZER_PEER].map(
      (p) => `--package=${installLine([p]).slice('npm install '.length)}`,
    );
    expect(recorded.argv).toEqual([
      'exec',
      '--yes',
      `--package=retryscope@${VERSION}`,
      ...specs,
      '--',
      'retryscope',
      'demo',
      '--duration',
      '3',
    ]);
  });

  it('asks npm for RETRYSCOPE_PACKAGE_SPEC instead of the registry version when set (a packed tarball)', async () => {
    const out = join(work, 'npm-args-spec.json');
    await node([bin, '--help'], {
      HIDE_PACKAGES: 'yaml',
      npm_execpath: fakeNpm,
      FAKE_NPM_OUT: out,
      RETRYSCOPE_PACKAGE_SPEC: '/tmp/retryscope-0.1.0.tgz',
    });
    const { argv } = JSON.parse(readFileSync(out, 'utf8')) as { argv: string[] };
    expect(argv[2]).toBe('--package=/tmp/retryscope-0.1.0.tgz');
  });

  it('fails with one line, not a loop, when the second run still lacks them', async () => {
    const r = await node([bin, 'demo'], { HIDE_PACKAGES: 'commander,yaml', RETRYSCOPE_CLI_REEXEC: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `retryscope: the CLI needs commander, yaml, which npm exec did not provide (${installLine(CLI_PEERS)})\n`,
    );
  });

  it('runs the CLI when they are installed', async () => {
    const r = await node([bin, '--version']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(VERSION);
  });
});
