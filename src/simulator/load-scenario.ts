/**
 * Reads a scenario from a YAML or JSON file. Every failure is an Error whose
 * message names the file and says what is wrong, so a CLI can print it as
 * one line without a stack trace.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { validateScenario } from './scenario-schema.ts';
import type { ScenarioDefinition } from './types.ts';

type ParseYaml = typeof import('yaml').parse;

// yaml is an optional peer: `retryscope/simulator` without it still runs the
// named scenarios and reads JSON files.
function yamlParser(path: string): ParseYaml {
  try {
    return (createRequire(import.meta.url)('yaml') as { parse: ParseYaml }).parse;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
    throw new Error(
      `Cannot read scenario file ${path}: YAML needs the yaml package (npm install yaml), or use JSON`,
    );
  }
}

export function loadScenarioFile(path: string): ScenarioDefinition {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
    throw new Error(`Cannot read scenario file ${path}: ${reason}`);
  }

  const json = extname(path).toLowerCase() === '.json';
  const parseYaml = json ? undefined : yamlParser(path);
  let value: unknown;
  try {
    // YAML is a superset of JSON, but JSON.parse gives JSON files JSON's own errors.
    value = parseYaml ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    const kind = json ? 'JSON' : 'YAML';
    const detail = (error as Error).message.split('\n')[0];
    throw new Error(`Cannot parse scenario file ${path} as ${kind}: ${detail}`);
  }
  return validateScenario(value, path);
}
