/**
 * What the main entry loads at run time, not only what its sources import:
 * a child process imports `retryscope`, makes one call through an
 * instrumented client against a loopback server, and lists every module it
 * loaded (test/fixtures/instrument-app.mjs). Nothing of the OpenTelemetry SDK,
 * no exporter, no CLI library may be among them.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** The package a loaded file belongs to, for files under node_modules. */
function packageOf(url: string): string | undefined {
  const at = url.lastIndexOf('/node_modules/');
  if (at < 0) return undefined;
  const parts = url.slice(at + '/node_modules/'.length).split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

const FORBIDDEN =
  /^@opentelemetry\/(?!api$)|^(commander|cli-progress|yaml|gpt-tokenizer|protobufjs|@grpc\/.*)$/;

async function loadedBy(entry: string, mode: 'modules'): Promise<{ content: string; loaded: string[] }> {
  const { stdout } = await run(
    process.execPath,
    ['--conditions=retryscope-source', 'test/fixtures/instrument-app.mjs', entry, mode],
    { cwd: ROOT },
  );
  return JSON.parse(stdout) as { content: string; loaded: string[] };
}

it('importing retryscope and calling through instrument() loads @opentelemetry/api and openai, no SDK', async () => {
  const { content, loaded } = await loadedBy('retryscope', 'modules');
  expect(content).toBe('hi');
  // The hook saw the library itself, so an empty list cannot pass by accident.
  expect(loaded.some((u) => u.endsWith('/src/openai/instrument.ts'))).toBe(true);
  const packages = [...new Set(loaded.map(packageOf).filter((p) => p !== undefined))].sort();
  expect(packages).toContain('@opentelemetry/api');
  expect(packages).toContain('openai');
  expect(packages.filter((p) => FORBIDDEN.test(p))).toEqual([]);
  // Nor any of retryscope's own telemetry setup, CLI or demo code.
  const own = loaded.filter((u) =>
    /\/src\/(cli|demo)\/|\/src\/telemetry\/(setup|pipeline|index)\.ts$/.test(u),
  );
  expect(own).toEqual([]);
});
