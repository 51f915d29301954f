/**
 * retryscope/simulator: an OpenAI-compatible chaos server on loopback, for
 * demos and for integration tests of anything that calls OpenAI.
 *
 * ```ts
 * const sim = await startSimulator({ scenario: 'storm', seed: 42 });
 * const openai = new OpenAI({ baseURL: sim.url, apiKey: 'sk-sim' });
 * ```
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
  FAULT_KINDS,
  type FaultKind,
  type FaultSpec,
  type KeyConfig,
  type LatencyRange,
  type NamedScenario,
  type PhaseDefinition,
  type RateLimits,
  ROUTE_IDS,
  type RouteId,
  type ScenarioDefinition,
  type Simulator,
  type SimulatorOptions,
  type SimulatorStats,
} from './types.ts';
