/** Every generated dashboard, rendered exactly as it is written to disk. */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { overviewDashboard } from './overview.ts';
import { quotaDashboard } from './quota.ts';
import { usageDashboard } from './usage.ts';

const dashboards: Record<string, () => dashboard.Dashboard> = {
  'openai-client-overview.json': overviewDashboard,
  'quota-and-rate-limits.json': quotaDashboard,
  'usage-and-cost.json': usageDashboard,
};

/** File name to file content; deterministic, so regeneration is byte-identical. */
export function renderDashboards(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [file, build] of Object.entries(dashboards)) {
    const model = build();
    // Stable ids, in layout order, so ?viewPanel= links survive regeneration.
    (model.panels ?? []).forEach((panel, i) => {
      panel.id = i + 1;
    });
    out.set(file, `${JSON.stringify(model, null, 2)}\n`);
  }
  return out;
}
