/**
 * Consumer apps for the compatibility tests: a temp directory with its own
 * node_modules, laid out as npm would install retryscope there, and a built
 * copy of retryscope (scripts/build.ts) as a real directory, so that it
 * resolves `openai` and `@opentelemetry/api` from the app, as a peer does.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const repo = resolve(import.meta.dirname, '../../..');

/** Every input of the build, hashed: the cached build is reused only while none of them changed. */
function buildKey(): string {
  const hash = createHash('sha256');
  const inputs = [
    'package.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'scripts/build.ts',
    ...files('src'),
  ];
  for (const file of inputs) hash.update(file).update(readFileSync(join(repo, file)));
  return hash.digest('hex').slice(0, 16);
}

function files(dir: string): string[] {
  return readdirSync(join(repo, dir), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

/**
 * The package as `npm pack` would ship it (package.json + dist), built once per
 * change of the sources and cached under .cache/, as test files share it. One
 * worker builds (a lock directory holding its pid); the others wait for it.
 */
export async function builtPackage(): Promise<string> {
  const cache = join(repo, '.cache', 'compat-build');
  const key = buildKey();
  const dir = join(cache, key);
  const lock = join(cache, `${key}.lock`);
  mkdirSync(cache, { recursive: true });
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      if (!alive(lock)) rmSync(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    const work = mkdtempSync(join(cache, 'tmp-'));
    await run(process.execPath, [join(repo, 'scripts/build.ts'), join(work, 'dist')], { cwd: repo });
    cpSync(join(repo, 'package.json'), join(work, 'package.json'));
    renameSync(work, dir);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  // Builds of older sources are of no further use.
  for (const old of readdirSync(cache)) {
    if (old !== key && !old.endsWith('.lock')) rmSync(join(cache, old), { recursive: true, force: true });
  }
  return dir;
}

/** Whether the worker holding a build lock still runs (a lock without a pid yet: just taken). */
function alive(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
  } catch {
    return existsSync(lock);
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The directory of package `name` as Node resolves it from `from` (real path). */
export function packageDir(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(dir) === dir) throw new Error(`${name} not found from ${from}`);
  }
}

export class AppDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'retryscope-app-'));

  /** `node_modules/<name>` → the package as installed for `from` (a symlink, as npm links are resolved by real path). */
  link(name: string, from: string = repo): this {
    const target = join(this.dir, 'node_modules', name);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(packageDir(name, from), target, 'dir');
    return this;
  }

  /**
   * `node_modules/retryscope` as a real directory holding the built package, with
   * its own dependencies nested in it (peers are the app's to link).
   */
  async installRetryscope(): Promise<string> {
    const target = join(this.dir, 'node_modules', 'retryscope');
    cpSync(await builtPackage(), target, { recursive: true });
    const pkg = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8'));
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      if (!existsSync(join(repo, 'node_modules', name))) continue; // an optional one not installed
      const link = join(target, 'node_modules', name);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(packageDir(name, repo), link, 'dir');
    }
    return target;
  }

  write(file: string, text: string): string {
    const path = join(this.dir, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return path;
  }

  /** Runs `node <file>` in the app; its stdout's last line, parsed as JSON. */
  async node(file: string, env: Record<string, string> = {}): Promise<unknown> {
    const { stdout } = await run(process.execPath, [file], {
      cwd: this.dir,
      env: { ...process.env, NODE_OPTIONS: '', ...env },
    });
    return JSON.parse(stdout.trim().split('\n').at(-1)!);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
