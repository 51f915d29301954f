/**
 * The optional peer dependencies, grouped by the entry point that needs them.
 * `instrument()` needs none of them: an app that only wraps a client installs
 * `@opentelemetry/api` and nothing else. package.json holds their ranges (a
 * test keeps these lists and package.json's `peerDependenciesMeta` equal).
 */
import { createRequire } from 'node:module';

/** The SDK pieces both the telemetry helper and the demo import (src/telemetry/pipeline.ts, env.ts). */
const PIPELINE = [
  '@opentelemetry/sdk-trace',
  '@opentelemetry/sdk-metrics',
  '@opentelemetry/core',
  '@opentelemetry/resources',
  '@opentelemetry/exporter-trace-otlp-http',
  '@opentelemetry/exporter-trace-otlp-proto',
  '@opentelemetry/exporter-metrics-otlp-http',
  '@opentelemetry/exporter-metrics-otlp-proto',
] as const;

/** What `retryscope/telemetry` imports: the Node SDK and the OTLP/HTTP exporters. */
export const TELEMETRY_PEERS = ['@opentelemetry/sdk-node', ...PIPELINE] as const;

/**
 * What the `retryscope` CLI imports: its own libraries and the SDK pieces the
 * demo records with (not the Node SDK: the demo builds its own providers).
 */
export const CLI_PEERS = ['commander', 'yaml', ...PIPELINE] as const;

/**
 * What `retryscope/instrumentation` and `retryscope/register` hook modules with: the
 * OpenTelemetry instrumentation base (it brings require-in-the-middle and import-in-the-middle).
 */
export const INSTRUMENTATION_PEERS = ['@opentelemetry/instrumentation'] as const;

/** Loaded lazily by pre-flight validation; without it validation uses a cheap bound. */
export const TOKENIZER_PEER = 'gpt-tokenizer';

interface Manifest {
  version: string;
  peerDependencies: Record<string, string>;
}

function manifest(): Manifest {
  const load = createRequire(import.meta.url);
  // One level up from src/ and from dist/; two from dist/cjs/ (which register and instrumentation reach).
  try {
    return load('../package.json') as Manifest;
  } catch {
    return load('../../package.json') as Manifest;
  }
}

/**
 * `name@version` for npm: the floor of the peer range, which is the version
 * the tests run. OpenTelemetry JS packages pin each other exactly, so a
 * looser spec (`@3`) mixes 3.1.0 and 3.1.1 and installs both, twice over.
 */
export function peerSpec(name: string): string {
  const range = manifest().peerDependencies[name];
  if (!range) throw new Error(`${name} is not a peer dependency of retryscope`);
  const floor = /^\^(\d+\.\d+\.\d+)$/.exec(range)?.[1];
  return `${name}@${floor ?? range}`;
}

/** The one command that installs a group. */
export function installLine(names: readonly string[]): string {
  return `npm install ${names.map(peerSpec).join(' ')}`;
}

/** The package a module-not-found error is about, if it is one of `names`. */
export function missingPeer(error: unknown, names: readonly string[]): string | undefined {
  const e = error as { code?: string; message?: string } | undefined;
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' && e?.code !== 'MODULE_NOT_FOUND') return undefined;
  const message = e.message ?? '';
  return names.find((n) => message.includes(`'${n}'`) || message.includes(`'${n}/`));
}

/**
 * What `retryscope/telemetry` throws when a peer is missing: one line that
 * says what is missing and the command that installs the whole group (the
 * next package would be missing too). Nothing else is attached, so the
 * printed error stays that line and its stack.
 */
export class MissingPeerError extends Error {
  override name = 'MissingPeerError';
  readonly #packages: readonly string[];
  /** `needs` says who needs what, e.g. "retryscope/telemetry needs the OpenTelemetry SDK". */
  constructor(needs: string, missing: string, packages: readonly string[]) {
    super(`${needs} (${missing} is not installed): ${installLine(packages)}`);
    this.#packages = packages;
  }
  get code(): string {
    return 'ERR_RETRYSCOPE_MISSING_PEER';
  }
  /** The packages the install line names. */
  get packages(): readonly string[] {
    return this.#packages;
  }
}
