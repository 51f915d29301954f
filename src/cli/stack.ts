/**
 * `retryscope stack [dir]`: writes the observability stack (the compose file,
 * the configs it mounts and the Grafana dashboards) into a folder, so an
 * installed package can start what the repository starts with
 * `docker compose up -d`. The files written are the ones the compose file
 * mounts, read from it, so the two cannot drift apart.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { Document } from 'yaml';

// Loaded on first use, so `retryscope --help` and the other commands never load yaml.
type Yaml = typeof import('yaml');
let yamlModule: Yaml | undefined;
const yaml = (): Yaml => {
  yamlModule ??= createRequire(import.meta.url)('yaml') as Yaml;
  return yamlModule;
};

/** The package root, from src/cli/ and from dist/cli/ alike. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const HEADER = ` The retryscope observability stack, written by \`retryscope stack\`.
   Start it:  docker compose up -d   (in this folder)
   Grafana    http://localhost:3000   (dashboards in the "retryscope" folder)
   Jaeger     http://localhost:16686  (traces; Monitor tab = span metrics)
   Prometheus http://localhost:9090   (metrics over OTLP, alert rules)
 Send it telemetry at the collector, OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318,
 for example: npx retryscope demo --otlp http://localhost:4318
 Tail sampling: OTELCOL_CONFIG=collector-tail-sampling.yaml docker compose up -d
 Every port is published on 127.0.0.1 only. Stop: docker compose down (-v also deletes the data).
 The repository's compose file also has a demo container; it is built from the
 sources, which the package does not ship, so here the demo runs on the host.`;

/** Input the user can fix: `message` says what is wrong, `fix` how to put it right (exit code 2). */
export class StackError extends Error {
  readonly fix: string;
  constructor(message: string, fix: string) {
    super(message);
    this.fix = fix;
  }
}

export interface WrittenStack {
  /** The folder, absolute. */
  dir: string;
  /** Paths written, relative to `dir`. */
  files: string[];
}

/** The `./relative` host paths a compose document bind-mounts, in order. */
function bindSources(doc: Document): string[] {
  const { isMap, isScalar, isSeq } = yaml();
  const services = doc.get('services');
  if (!isMap(services)) throw new Error('docker-compose.yml has no services');
  const sources: string[] = [];
  for (const service of services.items) {
    const volumes = isMap(service.value) ? service.value.get('volumes') : undefined;
    if (!isSeq(volumes)) continue;
    for (const volume of volumes.items) {
      const text = isScalar(volume) ? String(volume.value) : '';
      const source = text.split(':')[0] ?? '';
      if (source.startsWith('./')) sources.push(source.slice(2));
    }
  }
  return sources;
}

function filesUnder(root: string, path: string): string[] {
  const full = join(root, path);
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full)
    .sort()
    .flatMap((entry) => filesUnder(root, join(path, entry)));
}

/**
 * Writes docker-compose.yml (without the demo service, which builds from the
 * sources) and every file it mounts into `dir`. A folder that exists and is
 * not empty is refused unless `force`, so nobody's edited configs are lost.
 */
export function writeStack(dir: string, options: { force?: boolean; from?: string } = {}): WrittenStack {
  const from = options.from ?? PACKAGE_ROOT;
  const target = resolve(dir);
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) {
      throw new StackError(`${dir} exists and is not a folder`, 'name a folder to write the stack to');
    }
    if (readdirSync(target).length > 0 && !options.force) {
      throw new StackError(`${dir} is not empty`, 'pass --force to write the stack into it anyway');
    }
  }

  const { isMap, isScalar, parseDocument } = yaml();
  const doc = parseDocument(readFileSync(join(from, 'docker-compose.yml'), 'utf8'));
  doc.deleteIn(['services', 'demo']);
  // The repository's header (which says to run it from the clone) gives way to one for this folder.
  const first = isMap(doc.contents) ? doc.contents.items[0]?.key : undefined;
  if (isScalar(first)) first.commentBefore = null;
  doc.commentBefore = HEADER;

  const files = bindSources(doc).flatMap((source) => filesUnder(from, source));
  mkdirSync(target, { recursive: true });
  for (const file of files) cpSync(join(from, file), join(target, file), { force: true });
  writeFileSync(
    join(target, 'docker-compose.yml'),
    doc.toString({ lineWidth: 0, flowCollectionPadding: false }),
  );
  return { dir: target, files: ['docker-compose.yml', ...files] };
}

/** A folder name as the user can paste it into a shell. */
function shellWord(path: string): string {
  return /^[\w./@%+=:,-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

export function registerStackCommand(program: Command): void {
  program
    .command('stack')
    .description(
      'Write the observability stack (OTel Collector, Jaeger, Prometheus, Grafana and its dashboards) into a folder',
    )
    .argument('[dir]', 'the folder to write it to', 'retryscope-stack')
    .option('--force', 'write into a folder that is not empty, overwriting files of the same name')
    .showHelpAfterError(false)
    .action((dir: string, flags: { force?: boolean }) => {
      try {
        const written = writeStack(dir, { force: flags.force === true });
        const dashboards = written.files.filter((f) => f.endsWith('.json')).length;
        process.stdout.write(
          `Wrote the retryscope stack to ${written.dir} (docker-compose.yml and ${written.files.length - 1} files it mounts, ${dashboards} dashboards).\n` +
            `Start it:  cd ${shellWord(dir)} && docker compose up -d\n` +
            'Fill it:   npx retryscope demo --otlp http://localhost:4318\n' +
            'Then open Grafana at http://localhost:3000 and Jaeger at http://localhost:16686.\n',
        );
      } catch (error) {
        // The CLI's one format: `retryscope: <what is wrong> (<how to fix>)`; 2 for usage, 1 for a failed write.
        const message = error instanceof Error ? error.message : String(error);
        const fix = error instanceof StackError ? ` (${error.fix})` : '';
        process.stderr.write(`retryscope: ${message}${fix}\n`);
        process.exitCode = error instanceof StackError ? 2 : 1;
      }
    });
}
