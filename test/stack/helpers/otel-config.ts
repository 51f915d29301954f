/**
 * Static checks of an OpenTelemetry Collector (or Jaeger v2) config: the
 * wiring the collector itself validates at start-up, without the binary.
 */

type Section = Record<string, unknown> | null | undefined;

export interface CollectorConfig {
  receivers?: Section;
  processors?: Section;
  exporters?: Section;
  connectors?: Section;
  extensions?: Section;
  service: {
    extensions?: string[];
    pipelines: Record<string, { receivers?: string[]; processors?: string[]; exporters?: string[] }>;
  };
}

/** Component types the pinned images ship (contrib 0.156, Jaeger 2.19), by kind. */
export const KNOWN_TYPES = {
  receivers: ['otlp'],
  processors: ['memory_limiter', 'batch', 'tail_sampling'],
  exporters: ['otlp_grpc', 'otlp_http', 'jaeger_storage_exporter'],
  connectors: ['span_metrics', 'forward'],
  extensions: ['health_check', 'jaeger_storage', 'jaeger_query'],
} as const;

const typeOf = (id: string) => id.split('/')[0]!;
const names = (s: Section) => Object.keys(s ?? {});

/** Every problem found; empty when the config is wired correctly. */
export function collectorConfigProblems(cfg: CollectorConfig): string[] {
  const problems: string[] = [];
  for (const kind of Object.keys(KNOWN_TYPES) as (keyof typeof KNOWN_TYPES)[]) {
    for (const id of names(cfg[kind])) {
      if (!(KNOWN_TYPES[kind] as readonly string[]).includes(typeOf(id))) {
        problems.push(`${kind}.${id}: unknown component type "${typeOf(id)}"`);
      }
    }
  }
  const receivers = new Set([...names(cfg.receivers), ...names(cfg.connectors)]);
  const exporters = new Set([...names(cfg.exporters), ...names(cfg.connectors)]);
  const processors = new Set(names(cfg.processors));
  const used = new Set<string>();
  const connectorIn = new Set<string>();
  const connectorOut = new Set<string>();
  for (const [pipeline, p] of Object.entries(cfg.service.pipelines)) {
    if (!p.receivers?.length) problems.push(`pipeline ${pipeline} has no receivers`);
    if (!p.exporters?.length) problems.push(`pipeline ${pipeline} has no exporters`);
    for (const r of p.receivers ?? []) {
      if (!receivers.has(r)) problems.push(`pipeline ${pipeline}: receiver ${r} is not defined`);
      if (names(cfg.connectors).includes(r)) connectorOut.add(r);
      used.add(r);
    }
    for (const x of p.processors ?? []) {
      if (!processors.has(x)) problems.push(`pipeline ${pipeline}: processor ${x} is not defined`);
      used.add(x);
    }
    for (const e of p.exporters ?? []) {
      if (!exporters.has(e)) problems.push(`pipeline ${pipeline}: exporter ${e} is not defined`);
      if (names(cfg.connectors).includes(e)) connectorIn.add(e);
      used.add(e);
    }
    // Data from outside must meet memory_limiter first; a pipeline fed only by
    // connectors gets data that already passed it.
    const procs = p.processors ?? [];
    const fromOutside = (p.receivers ?? []).some((r) => !names(cfg.connectors).includes(r));
    if (processors.has('memory_limiter') && fromOutside && procs[0] !== 'memory_limiter') {
      problems.push(`pipeline ${pipeline}: memory_limiter must come first`);
    }
  }
  for (const c of names(cfg.connectors)) {
    if (!connectorIn.has(c) || !connectorOut.has(c)) {
      problems.push(`connector ${c} must be an exporter in one pipeline and a receiver in another`);
    }
  }
  for (const id of [...names(cfg.receivers), ...names(cfg.processors), ...names(cfg.exporters)]) {
    if (!used.has(id)) problems.push(`${id} is defined but used by no pipeline`);
  }
  for (const ext of cfg.service.extensions ?? []) {
    if (!names(cfg.extensions).includes(ext)) problems.push(`service extension ${ext} is not defined`);
  }
  return problems;
}
