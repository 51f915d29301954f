/**
 * `OTEL_SEMCONV_STABILITY_OPT_IN`: a comma-separated list of convention
 * families to emit in their newest form, read as OpenTelemetry JS
 * instrumentations read it (split on commas, trimmed, unknown entries
 * ignored). retryscope knows one: `gen_ai_latest_experimental`, which
 * switches inference operations to the renamed GenAI metrics.
 */
export const SEMCONV_OPT_IN_VAR = 'OTEL_SEMCONV_STABILITY_OPT_IN';
export const GEN_AI_LATEST_EXPERIMENTAL = 'gen_ai_latest_experimental';

/** Which metric names to record: `default` (what older GenAI instrumentations emit) or `latest`. */
export type GenAiNaming = 'default' | 'latest';

/** Read once per instrumented client: a process changing the variable later does not rename its series mid-flight. */
export function genAiNaming(env: Readonly<Record<string, string | undefined>> = process.env): GenAiNaming {
  const entries = (env[SEMCONV_OPT_IN_VAR] ?? '').split(',').map((e) => e.trim());
  return entries.includes(GEN_AI_LATEST_EXPERIMENTAL) ? 'latest' : 'default';
}
