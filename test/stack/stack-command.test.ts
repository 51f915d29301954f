/**
 * `retryscope stack [dir]`, run as a child process the way a user runs it:
 * the folder it writes must hold a compose file that Compose v2 accepts and
 * every file that compose file mounts; a folder with something in it is
 * refused with one line unless --force.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { findTool, ROOT } from './helpers/tools.ts';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'retryscope-stack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function stack(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'stack', ...args], { cwd: work }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}

interface Compose {
  services: Record<string, { volumes?: { type: string; source: string; read_only?: boolean }[] }>;
}

async function composeConfig(file: string): Promise<Compose> {
  const bin = findTool('docker-compose');
  if (!bin)
    throw new Error(
      'docker-compose not found in .cache/test-deps/bin or PATH: run bash scripts/install-test-deps.sh',
    );
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('COMPOSE_') || k === 'OTELCOL_CONFIG') delete env[k];
  const { stdout } = await run(bin, ['-f', file, 'config', '--format', 'json'], { env });
  return JSON.parse(stdout) as Compose;
}

describe('retryscope stack', () => {
  const dir = join(work, 'observability');

  it('writes the compose file and what it mounts, then prints how to start it', async () => {
    const r = await stack('observability');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Wrote the retryscope stack to ${dir}`);
    expect(r.stdout).toContain('cd observability && docker compose up -d');
    expect(r.stdout).toContain('npx retryscope demo --otlp http://localhost:4318');
    for (const f of [
      'docker-compose.yml',
      'stack/otel-collector/collector.yaml',
      'stack/jaeger/config.yaml',
    ]) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    // The dashboards are the generated ones, byte for byte.
    const dashboards = readdirSync(join(ROOT, 'dashboards/generated'));
    expect(dashboards.length).toBe(3);
    for (const d of dashboards) {
      expect(readFileSync(join(dir, 'dashboards/generated', d), 'utf8')).toBe(
        readFileSync(join(ROOT, 'dashboards/generated', d), 'utf8'),
      );
    }
  });

  it('writes a compose file that Compose v2 validates, whose every mount is in the folder', async () => {
    const compose = await composeConfig(join(dir, 'docker-compose.yml'));
    // The repository's demo service builds from the sources, which an installed package does not have.
    expect(Object.keys(compose.services).sort()).toEqual([
      'grafana',
      'jaeger',
      'otel-collector',
      'prometheus',
    ]);
    const binds = Object.values(compose.services)
      .flatMap((s) => s.volumes ?? [])
      .filter((v) => v.type === 'bind');
    expect(binds.length).toBe(6);
    for (const b of binds) {
      expect(b.source.startsWith(`${dir}/`), b.source).toBe(true);
      expect(existsSync(b.source), b.source).toBe(true);
      expect(b.read_only, b.source).toBe(true);
      if (statSync(b.source).isDirectory()) expect(readdirSync(b.source).length, b.source).toBeGreaterThan(0);
    }
    const text = readFileSync(join(dir, 'docker-compose.yml'), 'utf8');
    expect(text).toMatch(/^# The retryscope observability stack, written by `retryscope stack`/);
    expect(text).not.toContain('docs/see-it.md');
  });

  it('refuses a folder that is not empty with one line and exit code 2, and leaves it untouched', async () => {
    const mine = join(work, 'mine');
    await stack('mine');
    writeFileSync(join(mine, 'docker-compose.yml'), 'services: {}\n');
    const r = await stack('mine');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('retryscope: mine is not empty (pass --force to write the stack into it anyway)\n');
    expect(readFileSync(join(mine, 'docker-compose.yml'), 'utf8')).toBe('services: {}\n');

    const forced = await stack('mine', '--force');
    expect(forced.code).toBe(0);
    expect(readFileSync(join(mine, 'docker-compose.yml'), 'utf8')).toContain('otel-collector:');
  });

  it('refuses a path that is a file, with one line', async () => {
    writeFileSync(join(work, 'a-file'), 'x');
    const r = await stack('a-file', '--force');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'retryscope: a-file exists and is not a folder (name a folder to write the stack to)\n',
    );
  });
});
