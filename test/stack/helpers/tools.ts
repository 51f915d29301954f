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
 * The tool's path, or an error of one line naming it and how to get it. Never
 * a skip: `npm test` installs the tools first (its pretest step), so a missing
 * one means that step did not run or failed, and a silent skip would hide it.
 */
export function requireTool(name: string): string {
  const path = findTool(name);
  if (path) return path;
  throw new Error(
    `${name} not found in .cache/test-deps/bin or PATH: run \`npm test\` (it installs the test tools first) or \`bash scripts/install-test-deps.sh\``,
  );
}
