/**
 * retryscope/simulator: an OpenAI-compatible chaos server on loopback, for
 * demos and for integration tests of anything that calls OpenAI.
 *
 * ```ts
 * const sim = await startSimulator({ scenario: 'storm', seed: 42, durationMs: 10_000 });
 * const openai = new OpenAI({ baseURL: sim.url, apiKey: 'sk-sim' });
 * ```
 *
 * Serves `POST /v1/chat/completions`, `/v1/responses` (JSON and SSE),
 * `/v1/embeddings` and `GET /v1/models`. Any API key works unless
 * `acceptAnyKey: false`. Per key (and per model, with `modelLimits`), a real RPM/TPM limiter answers 429 with
 * `retry-after`, and a spend quota answers `insufficient_quota`. Scenarios
 * (`steady`, `storm`, `outage`, `quota`, `mixed`, or your own YAML) add
 * seeded faults by phase. In `quota` and `mixed`, the key `sk-sim-fallback`
 * never runs out of quota, and in `mixed`'s outage `gpt-4o` answers 503, so
 * key and model fallbacks have somewhere to go.
 */
export { formatGoDuration, parseGoDuration } from './go-duration.ts';
export { loadScenarioFile } from './load-scenario.ts';
export {
  SCENARIO_JSON_SCHEMA,
  ScenarioValidationError,
  type SchemaIssue,
  validateScenario,
} from './scenario-schema.ts';
export { FALLBACK_KEY, NAMED_SCENARIOS, OUTAGE_MODEL } from './scenarios.ts';
export { startSimulator } from './server.ts';
export {
  type Clock,
  FAULT_ADVERTISE,
  FAULT_KINDS,
  type FaultAdvertise,
  type FaultKind,
  type FaultSpec,
  type KeyConfig,
  type LatencyRange,
  type ModelLimits,
  type NamedScenario,
  type PhaseDefinition,
  type RateLimits,
  ROUTE_IDS,
  type RouteId,
  type ScenarioDefinition,
  type Simulator,
  type SimulatorOptions,
  type SimulatorStats,
  type WireTimeouts,
} from './types.ts';
