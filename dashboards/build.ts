/**
 * Writes dashboards/generated/*.json from dashboards/src (`npm run dashboards`).
 * Grafana provisions those files (stack/grafana/provisioning/dashboards);
 * dashboards/dashboards.test.ts fails when they are out of date.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderDashboards } from './src/index.ts';

const outDir = join(import.meta.dirname, 'generated');
mkdirSync(outDir, { recursive: true });
const rendered = renderDashboards();
// A dashboard removed from src must not linger in Grafana.
for (const file of readdirSync(outDir)) {
  if (file.endsWith('.json') && !rendered.has(file)) rmSync(join(outDir, file));
}
for (const [file, json] of rendered) {
  writeFileSync(join(outDir, file), json);
  console.log(`wrote dashboards/generated/${file}`);
}
