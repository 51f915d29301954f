/**
 * Regenerates scenarios/scenario.schema.json from SCENARIO_JSON_SCHEMA:
 *   npx node test/simulator/support/write-schema.ts
 * (scenario-schema.test.ts fails when the file is stale.)
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SCENARIO_JSON_SCHEMA } from '../../../src/simulator/scenario-schema.ts';

export const SCHEMA_PATH = fileURLToPath(new URL('../../../scenarios/scenario.schema.json', import.meta.url));
export const schemaText = (): string => `${JSON.stringify(SCENARIO_JSON_SCHEMA, null, 2)}\n`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(SCHEMA_PATH, schemaText());
  console.log(`wrote ${SCHEMA_PATH}`);
}
