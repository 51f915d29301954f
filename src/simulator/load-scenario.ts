/**
 * Reads a scenario from a YAML or JSON file. Every failure is an Error whose
 * message names the file and says what is wrong, so a CLI can print it as
 * one line without a stack trace.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { validateScenario } from './scenario-schema.ts';
import type { ScenarioDefinition } from './types.ts';

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

  let value: unknown;
  try {
    // YAML is a superset of JSON, but JSON.parse gives JSON files JSON's own errors.
    value = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    const kind = extname(path).toLowerCase() === '.json' ? 'JSON' : 'YAML';
    const detail = (error as Error).message.split('\n')[0];
    throw new Error(`Cannot parse scenario file ${path} as ${kind}: ${detail}`);
  }
  return validateScenario(value, path);
}
