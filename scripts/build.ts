/**
 * Builds the package: `node scripts/build.ts [outDir]` (default `dist`).
 *
 *   dist/       ES modules + .d.ts (tsconfig.build.json), every entry point and the CLI.
 *   dist/cjs/   CommonJS + .d.ts of the main entry (`require('retryscope')`), of
 *               `retryscope/register` and `retryscope/instrumentation`, with a
 *               package.json `{"type":"commonjs"}` so Node and TypeScript read it as CJS.
 *
 * Why a CommonJS build: retryscope subclasses openai's error classes, wraps its
 * `APIPromise` and `Stream`, and classifies errors with `instanceof`. openai ships
 * two copies of itself (ESM and CJS); an ESM-only retryscope always gets the ESM
 * copy, so in a CommonJS app its errors were not `instanceof` the app's
 * `OpenAI.BadRequestError`, and its own `instanceof` checks missed the app's
 * errors and streams. With a `require` build, each kind of app gets a retryscope
 * that imports the same openai copy it holds, for every class at once, and its
 * .d.ts resolve openai's CJS types, so `.cts` consumers typecheck. Building the
 * classes from the client's constructor instead would fix the error classes only.
 *
 * The CJS build compiles a staged copy of src/ under a `{"type":"commonjs"}`
 * package.json, so tsc (module nodenext) emits CommonJS and resolves `openai`
 * with the `require` condition: the CJS output is typechecked against openai's
 * CJS types. The one ESM-only construct in the library, `import.meta.url`, is
 * rewritten in the staged copy to its CommonJS equivalent.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, 'dist'));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function run(args: string[]): void {
  execFileSync(process.execPath, [tsc, ...args], { cwd: root, stdio: 'inherit' });
}

rmSync(out, { recursive: true, force: true });
run(['-p', join(root, 'tsconfig.build.json'), '--outDir', out]);

// Staged inside the repository so that `openai`, `@opentelemetry/api` and @types resolve from its node_modules.
mkdirSync(join(root, '.cache'), { recursive: true });
const staging = mkdtempSync(join(root, '.cache', 'cjs-src-'));
try {
  cpSync(join(root, 'src'), join(staging, 'src'), {
    recursive: true,
    filter: (p) => !p.endsWith('.test.ts'),
  });
  for (const file of tsFiles(join(staging, 'src'))) {
    const text = readFileSync(file, 'utf8');
    if (text.includes('import.meta.url')) {
      writeFileSync(
        file,
        text.replaceAll('import.meta.url', "require('node:url').pathToFileURL(__filename).href"),
      );
    }
  }
  writeFileSync(join(staging, 'package.json'), '{ "type": "commonjs" }\n');
  writeFileSync(
    join(staging, 'tsconfig.json'),
    JSON.stringify({
      extends: join(root, 'tsconfig.build.json'),
      compilerOptions: {
        rootDir: './src',
        outDir: join(out, 'cjs'),
        // verbatimModuleSyntax forbids `import` in a CommonJS file; interop for openai's default export.
        verbatimModuleSyntax: false,
        esModuleInterop: true,
        // Maps would point at the staged copy, which is deleted below.
        sourceMap: false,
        inlineSources: false,
        declarationMap: false,
      },
      // The main entry; zero-code's (register, instrumentation) and the SDK setup register starts, so a
      // CommonJS app hooks and records with the same openai and OpenTelemetry copies it requires.
      files: [
        './src/index.ts',
        './src/register-cjs.ts',
        './src/instrumentation.ts',
        // Required by a computed path (src/openai/auto.ts), so tsc would not follow it.
        './src/openai/auto-core.ts',
        './src/telemetry/setup.ts',
      ],
      include: [],
    }),
  );
  run(['-p', join(staging, 'tsconfig.json')]);
  writeFileSync(join(out, 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
} finally {
  rmSync(staging, { recursive: true, force: true });
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}
