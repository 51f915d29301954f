import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { VERSION } from '../src/version.ts';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const run = promisify(execFile);

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
  // The CLI, the demo, the simulator and the setup helper (setup.ts, pipeline.ts, env.ts) may use the SDK.
  const outside = ['cli', 'demo', 'simulator'].map((d) => join('src', d));
  const library = files('src').filter(
    (f) => !outside.some((d) => f.startsWith(d)) && !/telemetry\/(setup|pipeline|env)\.ts$/.test(f),
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
  expect(pkg.dependencies?.openai).toBeUndefined();
});

// ---- Fitness rules: the architecture of README's "How it works", as tests ----

interface Import {
  /** The specifier, or for a relative one the file it names, from the repository root (`src/policy/x.ts`). */
  target: string;
  /** `import type …` / `export type …`: erased from the build, so it carries no code and no state. */
  typeOnly: boolean;
}

/** Every import and re-export of a file, static and dynamic, multi-line ones included. */
function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const target = (spec: string) =>
    spec.startsWith('.')
      ? relative('.', resolve(dirname(file), spec))
          .split('\\')
          .join('/')
      : spec;
  const found: Import[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?'([^']+)'/gm))
    found.push({ target: target(m[2]!), typeOnly: m[1] !== undefined });
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g))
    found.push({ target: target(m[1]!), typeOnly: false });
  for (const m of text.matchAll(/\bcreateRequire\([^)]*\)\(\s*'([^']+)'\s*\)/g))
    found.push({ target: target(m[1]!), typeOnly: false });
  return found;
}

/** Loads whose module is computed: the rules could not see them. */
function computedLoads(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [
    ...text.matchAll(/\bimport\(\s*(?!['")])[^)]+\)/g),
    ...text.matchAll(/\bcreateRequire\([^)]*\)\(\s*(?!['")])[^)]+\)/g),
    ...text.matchAll(/(?<![.\w])require\(\s*(?!['")])[^)]+\)/g),
  ].map((m) => `${file}: ${m[0]}`);
}

const sources = files('src');

test('the import reader sees what the rules need: type-only, multi-line, re-exports, dynamic', () => {
  const operation = importsOf('src/telemetry/operation.ts');
  expect(operation).toContainEqual({ target: 'src/policy/types.ts', typeOnly: true });
  expect(importsOf('src/index.ts')).toContainEqual({
    target: 'src/telemetry/attributes.ts',
    typeOnly: false,
  });
  expect(importsOf('src/policy/token-estimate.ts')).toContainEqual({
    target: 'gpt-tokenizer/encoding/o200k_base',
    typeOnly: false,
  });
  expect(importsOf('src/options.ts')).toContainEqual({ target: 'openai', typeOnly: true });
});

test('every load names its module in a string literal, so the rules below see it', () => {
  // The one exception: retryscope/telemetry (and register) load its own build (ESM or CJS) by a path it works out.
  // And the zero-code patch its core, at the first client (src/openai/auto.ts says why).
  const allowed = [
    /^src\/(telemetry\/load-setup|openai\/auto)\.ts: createRequire\(import\.meta\.url\)\(file\)$/,
  ];
  const computed = sources.flatMap(computedLoads).filter((l) => !allowed.some((a) => a.test(l)));
  expect(computed).toEqual([]);
  expect(computedLoads('src/telemetry/load-setup.ts')).toHaveLength(1);
  expect(computedLoads('src/openai/auto.ts')).toHaveLength(1);
});

test('src/policy/ imports nothing outside itself: no SDK, no OTel, no Node, no adapter', () => {
  // The one exception: the optional tokenizer, loaded lazily by the default TokenCounting. The adapter
  // could inject it instead (validateRequest takes `counting`) once src/openai/call.ts passes one.
  const allowed = new Set(['src/policy/token-estimate.ts -> gpt-tokenizer/encoding/o200k_base']);
  const policy = sources.filter((f) => f.startsWith('src/policy/'));
  expect(policy.length).toBeGreaterThan(10);
  const outside = policy.flatMap((f) =>
    importsOf(f)
      .filter((i) => !i.target.startsWith('src/policy/'))
      .map((i) => `${f} -> ${i.target}`)
      .filter((edge) => !allowed.has(edge)),
  );
  expect(outside).toEqual([]);
});

test('only src/openai/ imports the SDK; the simulator does not even need its types', () => {
  // Decided: src/openai/ is the adapter. Besides it, the demo drives a real client (it is an app of the
  // library, as a user's would be), and src/options.ts names the client type in FallbackTarget
  // (type-only, erased from the build). The simulator speaks the wire format and must run with no
  // `openai` installed (retryscope/simulator), so not even a type import there.
  const isOpenAI = (i: Import) => i.target === 'openai' || i.target.startsWith('openai/');
  const uses = sources.flatMap((f) =>
    importsOf(f)
      .filter(isOpenAI)
      .map((i) => ({ f, typeOnly: i.typeOnly })),
  );
  const misplaced = uses.filter(
    ({ f, typeOnly }) =>
      !f.startsWith('src/openai/') && !f.startsWith('src/demo/') && !(typeOnly && f === 'src/options.ts'),
  );
  expect(misplaced).toEqual([]);
  expect(uses.some(({ f }) => f.startsWith('src/openai/'))).toBe(true);
});

test('src/telemetry/ imports nothing of src/openai/, and only types (no state) of src/policy/', () => {
  const telemetry = sources.filter((f) => f.startsWith('src/telemetry/'));
  const wrong = telemetry.flatMap((f) =>
    importsOf(f)
      .filter(
        (i) => i.target.startsWith('src/openai/') || (i.target.startsWith('src/policy/') && !i.typeOnly),
      )
      .map((i) => `${f} -> ${i.target}${i.typeOnly ? ' (type)' : ''}`),
  );
  expect(wrong).toEqual([]);
});

/** Lines a source file may have before it must say why it is one piece. */
const MAX_LINES = 300;
/**
 * The reason, as the file's first line: `// size: <why this file is one piece>`. A line comment, not
 * JSDoc, so it documents the file and not its first declaration.
 */
const SIZE_MARKER = /^\/\/ size: .{20,}/;
const lineCount = (text: string) => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
test(`no file in src/ is over ${MAX_LINES} lines without its reason at its top`, () => {
  const long = sources.filter((f) => {
    const text = readFileSync(f, 'utf8');
    return lineCount(text) > MAX_LINES && !SIZE_MARKER.test(text);
  });
  expect(long).toEqual([]);
  // A marker on a short file is a stale one.
  const stale = sources.filter((f) => {
    const text = readFileSync(f, 'utf8');
    return SIZE_MARKER.test(text) && lineCount(text) <= MAX_LINES;
  });
  expect(stale).toEqual([]);
});

// ---- The light install: what an app that only calls instrument() gets ----

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, LockEntry> };

/** Where Node (and npm's layout) finds `name` from the package at `from`: nested first, then each folder up. */
function locate(from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!base) return undefined;
    const up = base.lastIndexOf('/node_modules/');
    base = up < 0 ? '' : base.slice(0, up);
  }
}

/** What npm 7+ installs for an entry: dependencies, optional dependencies, and peers not marked optional. */
function installs(entry: LockEntry): string[] {
  const optionalPeer = (n: string) => entry.peerDependenciesMeta?.[n]?.optional === true;
  return [
    ...Object.keys(entry.dependencies ?? {}),
    ...Object.keys(entry.optionalDependencies ?? {}),
    ...Object.keys(entry.peerDependencies ?? {}).filter((n) => !optionalPeer(n)),
  ];
}

/** The package names `npm install retryscope` brings, transitively, read from package.json and the lockfile. */
function lightInstall(): Set<string> {
  const names = new Set<string>();
  const seen = new Set<string>();
  const queue: [string, string][] = installs(pkg).map((n) => ['', n]);
  while (queue.length > 0) {
    const [from, name] = queue.shift()!;
    names.add(name);
    const at = locate(from, name);
    if (!at || seen.has(at)) continue;
    seen.add(at);
    for (const dep of installs(lock.packages[at]!)) queue.push([at, dep]);
  }
  return names;
}

const HEAVY = [
  /^@opentelemetry\/(?!api$)/, // the SDK, exporters, semantic conventions: everything but the API
  /exporter|otlp|protobuf|grpc|zipkin|prometheus/i,
  /^(commander|cli-progress|yaml|gpt-tokenizer)$/,
];

test('an app that only calls instrument() installs @opentelemetry/api and openai: no SDK, exporter, CLI library or tokenizer', () => {
  const names = [...lightInstall()].sort();
  expect(names).toContain('@opentelemetry/api');
  expect(names).toContain('openai');
  expect(names.filter((n) => HEAVY.some((re) => re.test(n)))).toEqual([]);
  // The heavy packages are still in the lockfile (as dev dependencies), so the walk would see them if reachable.
  for (const n of ['@opentelemetry/sdk-node', 'commander', 'gpt-tokenizer', 'protobufjs']) {
    expect(locate('', n), n).toBeDefined();
  }
});

test('every optional peer belongs to an entry point that says how to install it, and is tested at a pinned version', async () => {
  const { CLI_PEERS, INSTRUMENTATION_PEERS, TELEMETRY_PEERS, TOKENIZER_PEER, installLine } = await import(
    '../src/optional-peers.ts'
  );
  const optional = Object.entries(pkg.peerDependenciesMeta as Record<string, { optional?: boolean }>)
    .filter(([, meta]) => meta.optional)
    .map(([name]) => name)
    .sort();
  expect(
    [...new Set([...TELEMETRY_PEERS, ...CLI_PEERS, ...INSTRUMENTATION_PEERS, TOKENIZER_PEER])].sort(),
  ).toEqual(optional);
  for (const name of optional) {
    const range = pkg.peerDependencies[name] as string;
    const pinned = pkg.devDependencies[name] as string;
    expect(pkg.dependencies?.[name], `${name} is also a dependency`).toBeUndefined();
    expect(pinned, `${name} has no devDependency, so no test runs it`).toMatch(/^\d+\.\d+\.\d+$/);
    // `^X.Y.Z` with the tested version as its floor.
    expect(range, name).toBe(`^${pinned}`);
  }
  // The Quick start shows the telemetry line as the code prints it.
  expect(readFileSync('README.md', 'utf8')).toContain(`\n${installLine(TELEMETRY_PEERS)}\n`);
  expect(installLine(['@opentelemetry/sdk-trace', '@opentelemetry/sdk-node'])).toBe(
    'npm install @opentelemetry/sdk-trace@3.1.0 @opentelemetry/sdk-node@0.301.0',
  );
});

// ---- Package hygiene ----

test('package.json says where the code, the issues and the docs are, and which Node it runs on', () => {
  expect(pkg.repository.url).toBe('git+https://github.com/retryscope/retryscope.git');
  expect(pkg.bugs.url).toBe('https://github.com/retryscope/retryscope/issues');
  expect(pkg.homepage).toBe('https://github.com/retryscope/retryscope#readme');
  // test/package/node20.test.ts runs the built library on the machine's Node, which must satisfy this.
  expect(pkg.engines.node).toBe('>=20.19.0');
});

test('LICENSE is the MIT licence of the retryscope authors; CHANGELOG keeps a changelog from 0.1.0', () => {
  const license = readFileSync('LICENSE', 'utf8');
  expect(pkg.license).toBe('MIT');
  expect(license).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} retryscope authors\n/);
  expect(license).toContain('THE SOFTWARE IS PROVIDED "AS IS"');
  const changelog = readFileSync('CHANGELOG.md', 'utf8');
  expect(changelog).toContain('https://keepachangelog.com/en/1.1.0/');
  expect(changelog).toMatch(/^## \[Unreleased\]$/m);
  expect(changelog).toMatch(
    new RegExp(`^## \\[${pkg.version.replaceAll('.', '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'),
  );
});

test('source maps carry their sources, since src/ is not shipped', () => {
  // tsconfig files are JSON with line comments.
  const tsconfig = (file: string) =>
    JSON.parse(readFileSync(file, 'utf8').replace(/^\s*\/\/.*$/gm, '')) as {
      compilerOptions: Record<string, unknown>;
    };
  const build = tsconfig('tsconfig.build.json');
  const base = tsconfig('tsconfig.json');
  const options = { ...base.compilerOptions, ...build.compilerOptions };
  expect(options.sourceMap === false || options.inlineSources === true).toBe(true);
});

test('npm pack ships the library, the stack the CLI writes, the scenarios and their schema; no sources or tests', async () => {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    maxBuffer: 16 << 20,
  });
  const shipped = new Set(
    (JSON.parse(stdout) as [{ files: { path: string }[] }])[0].files.map((f) => f.path),
  );
  for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'docker-compose.yml']) {
    expect(shipped, f).toContain(f);
  }
  // The README links scenarios/ and its JSON Schema; `retryscope simulate --scenario-file` reads such files.
  for (const f of readdirSync('scenarios')) expect(shipped, f).toContain(`scenarios/${f}`);
  // Everything the compose file mounts, but the demo container's build (sources and Dockerfile).
  const compose = readFileSync('docker-compose.yml', 'utf8');
  const mounts = [...compose.matchAll(/^\s+- \.\/([^:]+):/gm)].map((m) => m[1]!);
  expect(mounts.length).toBe(6);
  for (const mount of mounts) {
    const under = statSync(mount).isDirectory() ? allFiles(mount) : [mount];
    for (const f of under) expect(shipped, f).toContain(f);
  }
  const leaked = [...shipped].filter((f) =>
    /^(src|test|scripts|examples|node_modules|\.cache)\/|^Dockerfile$/.test(f),
  );
  expect(leaked).toEqual([]);
});

function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? allFiles(p) : [p];
  });
}
