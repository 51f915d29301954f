import { accessSync, constants } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

/** Repository root, from this file's place in test/stack/helpers. */
export const ROOT = resolve(import.meta.dirname, '../../..');

/** Where scripts/install-test-deps.sh unpacks the tools. */
export const TOOL_DIR = join(ROOT, '.cache/test-deps/bin');

/** The tool from .cache first, then PATH; undefined when neither has it. */
export function findTool(name: string): string | undefined {
  const dirs = [TOOL_DIR, ...(process.env.PATH ?? '').split(delimiter)];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * A missing tool skips the suite on a developer's machine but fails in CI,
 * where install-test-deps.sh must have run: a silent skip there would hide it.
 */
export function toolOrSkip(name: string): { path?: string; skipReason?: string } {
  const path = findTool(name);
  if (path) return { path };
  const message = `${name} not found in ${TOOL_DIR} or PATH: run bash scripts/install-test-deps.sh`;
  if (process.env.CI) throw new Error(`CI is set and ${message}`);
  console.warn(`SKIP: ${message}`);
  return { skipReason: message };
}
