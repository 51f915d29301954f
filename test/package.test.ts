import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { VERSION } from '../src/version.ts';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));

test('the version the tracer reports is the package version', () => {
  expect(VERSION).toBe(pkg.version);
});

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('the library entry depends on @opentelemetry/api only; the SDK stays in retryscope/telemetry', () => {
  // The CLI, the demo, the simulator and the setup helper (setup.ts, pipeline.ts) may use the SDK.
  const outside = ['cli', 'demo', 'simulator'].map((d) => join('src', d));
  const library = files('src').filter(
    (f) => !outside.some((d) => f.startsWith(d)) && !/(setup|pipeline)\.ts$/.test(f),
  );
  expect(library.length).toBeGreaterThan(10);
  for (const file of library) {
    const runtimeImports = [
      ...readFileSync(file, 'utf8').matchAll(/^import (?!type )[^;]*from '([^']+)'/gm),
    ].map((m) => m[1]!);
    for (const spec of runtimeImports) {
      if (spec.startsWith('@opentelemetry/')) expect(`${file}: ${spec}`).toBe(`${file}: @opentelemetry/api`);
    }
  }
  expect(pkg.peerDependencies.openai).toMatch(/^\^7/);
  expect(pkg.dependencies.openai).toBeUndefined();
});
