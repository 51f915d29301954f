/**
 * package.json claims `engines.node >=20.19.0`. This builds the package with
 * tsc (Node 20 cannot run the .ts sources) and runs the build on the
 * machine's own Node, outside node_modules (/usr/bin/node here, Node 20;
 * npm scripts put the `node` devDependency, Node 24, first on PATH): an
 * instrumented client against a loopback server records its spans, the CLI
 * starts, and a short demo runs.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };

/** The Node installed on the machine: /usr/bin/node, else the first `node` on PATH that no node_modules provides. */
function machineNode(): string {
  const dirs = ['/usr/bin', '/usr/local/bin', ...(process.env.PATH ?? '').split(delimiter)];
  const found = dirs
    .filter((d) => !d.includes('node_modules'))
    .map((d) => join(d, 'node'))
    .find((p) => existsSync(p));
  if (!found) throw new Error('no Node.js outside node_modules on this machine: install Node 20.19 or newer');
  return found;
}

const NODE = machineNode();
const VERSION = execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim();

function atLeast(version: string, floor: string): boolean {
  const a = version.replace(/^v/, '').split('.').map(Number);
  const b = floor.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return true;
}

// Inside the repository, so the build resolves openai and the OpenTelemetry packages from node_modules.
mkdirSync(join(ROOT, '.cache'), { recursive: true });
const out = mkdtempSync(join(ROOT, '.cache/node-build-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe(`the built package on the machine's Node (${NODE}, ${VERSION})`, () => {
  beforeAll(async () => {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    await run(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out], {
      cwd: ROOT,
    });
  }, 300_000);

  it('is a Node that package.json engines admits', () => {
    const floor = /^>=(\d+\.\d+\.\d+)$/.exec(pkg.engines.node)?.[1];
    expect(floor).toBeDefined();
    expect(atLeast(VERSION, floor!), `${VERSION} is older than ${pkg.engines.node}`).toBe(true);
  });

  it('instrument() records an operation span with its attempt span under it', async () => {
    const { stdout } = await run(
      NODE,
      ['test/fixtures/instrument-app.mjs', pathToFileURL(join(out, 'index.js')).href, 'spans'],
      { cwd: ROOT },
    );
    const result = JSON.parse(stdout) as {
      node: string;
      content: string;
      spans: { name: string; id: string; parent: string | null; attributes: Record<string, unknown> }[];
    };
    expect(result.node).toBe(VERSION);
    expect(result.content).toBe('hi');
    const op = result.spans.find((s) => s.name === 'chat gpt-4o-mini');
    const attempt = result.spans.find((s) => s.name === 'attempt 1');
    expect(op?.attributes['retryscope.outcome']).toBe('success');
    expect(op?.attributes['retryscope.attempts']).toBe(1);
    expect(attempt?.parent).toBe(op?.id);
    expect(attempt?.attributes['http.response.status_code']).toBe(200);
  });

  it('the built source maps carry their sources, so a stack trace into dist/ points at real code', () => {
    const map = JSON.parse(readFileSync(join(out, 'openai/instrument.js.map'), 'utf8')) as {
      sources: string[];
      sourcesContent?: string[];
    };
    expect(map.sourcesContent?.[0]).toBe(readFileSync(join(ROOT, 'src/openai/instrument.ts'), 'utf8'));
  });

  it('the CLI starts and a short demo runs', async () => {
    const version = await run(NODE, [join(out, 'cli/bin.js'), '--version'], { cwd: ROOT });
    expect(version.stdout.trim()).toBe(
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string,
    );
    const demo = await run(
      NODE,
      [join(out, 'cli/bin.js'), 'demo', '--duration', '2', '--no-progress', '--json'],
      {
        cwd: ROOT,
      },
    );
    const report = JSON.parse(demo.stdout) as { operations: { total: number } };
    expect(report.operations.total).toBeGreaterThan(0);
  });
});
