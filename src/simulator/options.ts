/**
 * Checks `startSimulator`'s options and fills in defaults, so a typo fails
 * at start-up with a message instead of as odd behaviour mid-test.
 */
import type { EngineConfig } from './engine.ts';
import { validateFaults, validateKeys, validateModelLimits, validateScenario } from './scenario-schema.ts';
import { isNamedScenario, NAMED_SCENARIOS } from './scenarios.ts';
import type { RateLimits, ScenarioDefinition, SimulatorOptions, WireTimeouts } from './types.ts';
import { DEFAULT_WIRE_TIMEOUTS } from './wire-guard.ts';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_DURATION_MS = 60_000;
export const DEFAULT_SEED = 1;
export const DEFAULT_SCENARIO = 'mixed';

export interface ResolvedOptions extends EngineConfig {
  port: number;
  host: string;
  timeouts: WireTimeouts;
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new RangeError(message);
}

function resolveScenario(scenario: SimulatorOptions['scenario']): ScenarioDefinition {
  const chosen = scenario ?? DEFAULT_SCENARIO;
  if (typeof chosen === 'string') {
    check(
      isNamedScenario(chosen),
      `Unknown scenario "${chosen}" (expected one of: ${Object.keys(NAMED_SCENARIOS).join(', ')})`,
    );
    return NAMED_SCENARIOS[chosen];
  }
  return validateScenario(chosen, 'the scenario option');
}

function resolveLimits(limits: Partial<RateLimits> | undefined): Partial<RateLimits> {
  for (const name of ['rpm', 'tpm'] as const) {
    const value = limits?.[name];
    check(
      value === undefined || (Number.isFinite(value) && value > 0),
      `limits.${name} must be a positive number (got ${value})`,
    );
  }
  return { ...limits };
}

function resolveTimeouts(timeouts: Partial<WireTimeouts> | undefined): WireTimeouts {
  const resolved = { ...DEFAULT_WIRE_TIMEOUTS, ...timeouts };
  for (const name of Object.keys(timeouts ?? {})) {
    check(
      name in DEFAULT_WIRE_TIMEOUTS,
      `timeouts.${name} is not an option (expected headersMs, requestMs, keepAliveMs)`,
    );
  }
  for (const [name, value] of Object.entries(resolved)) {
    check(
      Number.isSafeInteger(value) && value > 0,
      `timeouts.${name} must be a positive integer of milliseconds (got ${value})`,
    );
  }
  check(
    resolved.headersMs <= resolved.requestMs,
    `timeouts.headersMs (${resolved.headersMs}) cannot exceed timeouts.requestMs (${resolved.requestMs})`,
  );
  return resolved;
}

export function resolveOptions(options: SimulatorOptions): ResolvedOptions {
  const port = options.port ?? 0;
  check(
    Number.isInteger(port) && port >= 0 && port <= 65_535,
    `port must be an integer from 0 to 65535 (got ${port})`,
  );
  const host = options.host ?? DEFAULT_HOST;
  check(typeof host === 'string' && host.length > 0, 'host must be a non-empty string');
  const seed = options.seed ?? DEFAULT_SEED;
  check(Number.isSafeInteger(seed), `seed must be an integer (got ${seed})`);
  const durationMs = options.durationMs ?? DEFAULT_DURATION_MS;
  check(
    Number.isFinite(durationMs) && durationMs > 0,
    `durationMs must be a positive number (got ${durationMs})`,
  );
  const quotaTokens = options.quotaTokens;
  check(quotaTokens === undefined || quotaTokens >= 0, `quotaTokens must be >= 0 (got ${quotaTokens})`);

  return {
    port,
    host,
    timeouts: resolveTimeouts(options.timeouts),
    seed,
    durationMs,
    scenario: resolveScenario(options.scenario),
    countRejected: options.countRejected ?? true,
    acceptAnyKey: options.acceptAnyKey ?? true,
    limits: resolveLimits(options.limits),
    modelLimits:
      options.modelLimits === undefined
        ? {}
        : validateModelLimits(options.modelLimits, 'the modelLimits option'),
    keys: options.keys === undefined ? {} : validateKeys(options.keys, 'the keys option'),
    quotaTokens,
    unavailableModels: [...(options.unavailableModels ?? [])],
    extraFaults: options.faults === undefined ? [] : validateFaults(options.faults, 'the faults option'),
    clock: options.clock ?? Date,
  };
}
