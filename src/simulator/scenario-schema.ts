// size: the validator and the JSON Schema of one shape side by side, so they change together.
/**
 * Validation of scenario definitions, and the JSON Schema that editors use
 * for the same shape (`scenarios/scenario.schema.json` is generated from
 * `SCENARIO_JSON_SCHEMA`). Hand-written rather than a schema library to
 * keep the package's dependencies small; both read their enums from the
 * same constants so they cannot drift on those.
 *
 * Errors name the field by path (`phases[1].faults[0].probability`) and say
 * what is wrong, because the person reading them is editing a YAML file.
 */
import { isRecord } from '../policy/is-record.ts';
import {
  FAULT_ADVERTISE,
  FAULT_KINDS,
  type FaultAdvertise,
  type FaultKind,
  type FaultSpec,
  type KeyConfig,
  type LatencyRange,
  type ModelLimits,
  type PhaseDefinition,
  type RateLimits,
  ROUTE_IDS,
  type RouteId,
  type ScenarioDefinition,
} from './types.ts';

export interface SchemaIssue {
  /** Dotted path of the field, `phases[0].faults[1].kind`; empty for the root. */
  path: string;
  message: string;
}

export class ScenarioValidationError extends Error {
  readonly issues: readonly SchemaIssue[];
  readonly source: string;

  constructor(source: string, issues: readonly SchemaIssue[], what = 'scenario') {
    const shown = issues.slice(0, 5).map((issue) => `${issue.path || '(root)'} ${issue.message}`);
    if (issues.length > 5) shown.push(`and ${issues.length - 5} more`);
    super(`Invalid ${what} in ${source}: ${shown.join('; ')}`);
    this.name = 'ScenarioValidationError';
    this.issues = issues;
    this.source = source;
  }
}

/** Spelled out in files where `Infinity` cannot be. */
export const UNLIMITED = 'unlimited';

type Issues = SchemaIssue[];

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** Reads an object and flags fields it does not know, which are almost always typos. */
function record(
  value: unknown,
  path: string,
  known: readonly string[],
  issues: Issues,
): Record<string, unknown> | undefined {
  if (!isRecord(value)) {
    issues.push({ path, message: `must be an object (got ${describe(value)})` });
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      issues.push({
        path: join(path, key),
        message: `is not a known field (expected one of: ${known.join(', ')})`,
      });
    }
  }
  return value;
}

interface NumberRule {
  min?: number;
  /** Exclusive lower bound. */
  above?: number;
  max?: number;
  integer?: boolean;
  allowInfinity?: boolean;
}

function numberField(value: unknown, path: string, rule: NumberRule, issues: Issues): number | undefined {
  if (value === undefined) return undefined;
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (Number.isFinite(value) || (rule.allowInfinity === true && value === Number.POSITIVE_INFINITY)) &&
    (rule.min === undefined || value >= rule.min) &&
    (rule.above === undefined || value > rule.above) &&
    (rule.max === undefined || value <= rule.max) &&
    (!rule.integer || Number.isInteger(value) || value === Number.POSITIVE_INFINITY);
  if (ok) return value;
  const kind = rule.integer ? 'an integer' : 'a number';
  const bounds: string[] = [];
  if (rule.min !== undefined) bounds.push(`>= ${rule.min}`);
  if (rule.above !== undefined) bounds.push(`> ${rule.above}`);
  if (rule.max !== undefined) bounds.push(`<= ${rule.max}`);
  const range = bounds.length ? ` ${bounds.join(' and ')}` : '';
  issues.push({ path, message: `must be ${kind}${range} (got ${describe(value)})` });
  return undefined;
}

function stringField(value: unknown, path: string, issues: Issues, required = false): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value === 'string' && value.length > 0) return value;
  issues.push({
    path,
    message: value === undefined ? 'is required' : `must be a non-empty string (got ${describe(value)})`,
  });
  return undefined;
}

function stringList<T extends string>(
  value: unknown,
  path: string,
  issues: Issues,
  allowed?: readonly T[],
): T[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    issues.push({ path, message: `must be a list (got ${describe(value)})` });
    return undefined;
  }
  const out: T[] = [];
  value.forEach((item, index) => {
    if (typeof item !== 'string' || item.length === 0) {
      issues.push({ path: join(path, index), message: `must be a non-empty string (got ${describe(item)})` });
    } else if (allowed && !allowed.includes(item as T)) {
      issues.push({
        path: join(path, index),
        message: `must be one of: ${allowed.join(', ')} (got ${describe(item)})`,
      });
    } else {
      out.push(item as T);
    }
  });
  return out;
}

function limitsField(value: unknown, path: string, issues: Issues): Partial<RateLimits> | undefined {
  if (value === undefined) return undefined;
  const raw = record(value, path, ['rpm', 'tpm'], issues);
  if (!raw) return undefined;
  const limits: Partial<RateLimits> = {};
  const rpm = numberField(raw.rpm, join(path, 'rpm'), { above: 0 }, issues);
  const tpm = numberField(raw.tpm, join(path, 'tpm'), { above: 0 }, issues);
  if (rpm !== undefined) limits.rpm = rpm;
  if (tpm !== undefined) limits.tpm = tpm;
  return limits;
}

function modelLimitsField(value: unknown, path: string, issues: Issues): ModelLimits | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) {
    issues.push({ path, message: `must be an object of model -> { rpm, tpm } (got ${describe(value)})` });
    return undefined;
  }
  const out: ModelLimits = {};
  for (const [model, limits] of Object.entries(value)) {
    if (model === '') {
      issues.push({ path, message: 'has an empty model name' });
      continue;
    }
    const parsed = limitsField(limits, join(path, model), issues);
    if (parsed !== undefined) out[model] = parsed;
  }
  return out;
}

function quotaField(value: unknown, path: string, issues: Issues): number | undefined {
  if (value === UNLIMITED) return Number.POSITIVE_INFINITY;
  if (typeof value === 'string') {
    issues.push({ path, message: `must be a number >= 0 or "${UNLIMITED}" (got ${describe(value)})` });
    return undefined;
  }
  return numberField(value, path, { min: 0, allowInfinity: true }, issues);
}

function latencyField(value: unknown, path: string, issues: Issues): number | LatencyRange | undefined {
  if (value === undefined || typeof value === 'number') {
    return numberField(value, path, { min: 0, max: 600_000 }, issues);
  }
  const raw = record(value, path, ['min', 'max'], issues);
  if (!raw) return undefined;
  for (const bound of ['min', 'max'] as const) {
    if (raw[bound] === undefined) issues.push({ path: join(path, bound), message: 'is required' });
  }
  const min = numberField(raw.min, join(path, 'min'), { min: 0, max: 600_000 }, issues);
  const max = numberField(raw.max, join(path, 'max'), { min: 0, max: 600_000 }, issues);
  if (min === undefined || max === undefined) return undefined;
  if (min > max) {
    issues.push({ path, message: `min (${min}) must not exceed max (${max})` });
    return undefined;
  }
  return { min, max };
}

/** A burst is at most the whole minute the limit is counted over. */
const BURST_RULE: NumberRule = { above: 0, max: 60_000 };

export const FAULT_FIELDS = [
  'kind',
  'probability',
  'every',
  'burst',
  'routes',
  'models',
  'delayMs',
  'afterChunks',
  'advertise',
  'code',
] as const;

/** Faults whose streams break off after `afterChunks` content chunks. */
const CHUNKED_KINDS: readonly FaultKind[] = ['stream_error', 'response_failed', 'response_incomplete'];
/** Faults a `code` applies to: the failed response's error code, the incomplete one's reason. */
const CODED_KINDS: readonly FaultKind[] = ['response_failed', 'response_incomplete'];

function faultField(value: unknown, path: string, issues: Issues): FaultSpec | undefined {
  const raw = record(value, path, FAULT_FIELDS, issues);
  if (!raw) return undefined;
  const before = issues.length;
  // `kind: 503` in YAML is a number; it means the same as "503".
  const kindText = typeof raw.kind === 'number' ? String(raw.kind) : raw.kind;
  let kind: FaultKind | undefined;
  if (typeof kindText === 'string' && (FAULT_KINDS as readonly string[]).includes(kindText)) {
    kind = kindText as FaultKind;
  } else {
    issues.push({
      path: join(path, 'kind'),
      message:
        raw.kind === undefined
          ? `is required (one of: ${FAULT_KINDS.join(', ')})`
          : `must be one of: ${FAULT_KINDS.join(', ')} (got ${describe(raw.kind)})`,
    });
  }
  const fault: FaultSpec = { kind: kind ?? '500' };
  const probability = numberField(raw.probability, join(path, 'probability'), { min: 0, max: 1 }, issues);
  const every = numberField(raw.every, join(path, 'every'), { min: 1, integer: true }, issues);
  const burst = numberField(raw.burst, join(path, 'burst'), { min: 1, integer: true }, issues);
  const routes = stringList<RouteId>(raw.routes, join(path, 'routes'), issues, ROUTE_IDS);
  const models = stringList(raw.models, join(path, 'models'), issues);
  const delayMs = numberField(raw.delayMs, join(path, 'delayMs'), { min: 0, max: 600_000 }, issues);
  const afterChunks = numberField(
    raw.afterChunks,
    join(path, 'afterChunks'),
    { min: 0, integer: true },
    issues,
  );
  if (raw.probability === undefined && raw.every === undefined) {
    issues.push({ path, message: 'needs `probability` or `every`, or it never strikes' });
  }
  if (raw.delayMs !== undefined && kind !== undefined && kind !== 'slow') {
    issues.push({
      path: join(path, 'delayMs'),
      message: `only applies to kind slow (this fault is ${kind})`,
    });
  }
  if (raw.afterChunks !== undefined && kind !== undefined && !CHUNKED_KINDS.includes(kind)) {
    issues.push({
      path: join(path, 'afterChunks'),
      message: `only applies to kinds ${CHUNKED_KINDS.join(', ')} (this fault is ${kind})`,
    });
  }
  let code: string | undefined;
  if (raw.code !== undefined) {
    if (typeof raw.code === 'string' && /^[a-z0-9_]{1,64}$/.test(raw.code)) code = raw.code;
    else
      issues.push({
        path: join(path, 'code'),
        message: `must be a lower-case code such as server_error (got ${describe(raw.code)})`,
      });
    if (kind !== undefined && !CODED_KINDS.includes(kind))
      issues.push({
        path: join(path, 'code'),
        message: `only applies to kinds ${CODED_KINDS.join(', ')} (this fault is ${kind})`,
      });
  }
  let advertise: FaultAdvertise | undefined;
  if (raw.advertise !== undefined) {
    if ((FAULT_ADVERTISE as readonly unknown[]).includes(raw.advertise))
      advertise = raw.advertise as FaultAdvertise;
    else
      issues.push({
        path: join(path, 'advertise'),
        message: `must be one of: ${FAULT_ADVERTISE.join(', ')} (got ${describe(raw.advertise)})`,
      });
    if (kind !== undefined && kind !== '429')
      issues.push({
        path: join(path, 'advertise'),
        message: `only applies to kind 429 (this fault is ${kind})`,
      });
  }
  if (probability !== undefined) fault.probability = probability;
  if (every !== undefined) fault.every = every;
  if (burst !== undefined) fault.burst = burst;
  if (routes !== undefined) fault.routes = routes;
  if (models !== undefined) fault.models = models;
  if (delayMs !== undefined) fault.delayMs = delayMs;
  if (afterChunks !== undefined) fault.afterChunks = afterChunks;
  if (advertise !== undefined) fault.advertise = advertise;
  if (code !== undefined) fault.code = code;
  return issues.length === before ? fault : undefined;
}

export const PHASE_FIELDS = [
  'name',
  'weight',
  'limitsScale',
  'burstMs',
  'quotaTokens',
  'unavailableModels',
  'latencyMs',
  'faults',
] as const;

function phaseField(value: unknown, path: string, issues: Issues): PhaseDefinition | undefined {
  const raw = record(value, path, PHASE_FIELDS, issues);
  if (!raw) return undefined;
  const phase: PhaseDefinition = { name: stringField(raw.name, join(path, 'name'), issues, true) ?? '' };
  const weight = numberField(raw.weight, join(path, 'weight'), { above: 0 }, issues);
  const limitsScale = numberField(raw.limitsScale, join(path, 'limitsScale'), { above: 0 }, issues);
  const burstMs = numberField(raw.burstMs, join(path, 'burstMs'), BURST_RULE, issues);
  const quotaTokens = quotaField(raw.quotaTokens, join(path, 'quotaTokens'), issues);
  const unavailableModels = stringList(raw.unavailableModels, join(path, 'unavailableModels'), issues);
  const latencyMs = latencyField(raw.latencyMs, join(path, 'latencyMs'), issues);
  if (weight !== undefined) phase.weight = weight;
  if (limitsScale !== undefined) phase.limitsScale = limitsScale;
  if (burstMs !== undefined) phase.burstMs = burstMs;
  if (quotaTokens !== undefined) phase.quotaTokens = quotaTokens;
  if (unavailableModels !== undefined) phase.unavailableModels = unavailableModels;
  if (latencyMs !== undefined) phase.latencyMs = latencyMs;
  if (raw.faults !== undefined) {
    if (Array.isArray(raw.faults)) {
      phase.faults = raw.faults.flatMap((fault, index) => {
        const parsed = faultField(fault, join(join(path, 'faults'), index), issues);
        return parsed ? [parsed] : [];
      });
    } else {
      issues.push({ path: join(path, 'faults'), message: `must be a list (got ${describe(raw.faults)})` });
    }
  }
  return phase;
}

function keysField(value: unknown, path: string, issues: Issues): Record<string, KeyConfig> | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) {
    issues.push({ path, message: `must be an object of API key -> settings (got ${describe(value)})` });
    return undefined;
  }
  const keys: Record<string, KeyConfig> = {};
  for (const [name, settings] of Object.entries(value)) {
    const keyPath = join(path, name);
    const raw = record(settings ?? {}, keyPath, ['quotaTokens', 'limits', 'modelLimits'], issues);
    if (!raw) continue;
    const config: KeyConfig = {};
    const quotaTokens = quotaField(raw.quotaTokens, join(keyPath, 'quotaTokens'), issues);
    const limits = limitsField(raw.limits, join(keyPath, 'limits'), issues);
    if (quotaTokens !== undefined) config.quotaTokens = quotaTokens;
    const modelLimits = modelLimitsField(raw.modelLimits, join(keyPath, 'modelLimits'), issues);
    if (limits !== undefined) config.limits = limits;
    if (modelLimits !== undefined) config.modelLimits = modelLimits;
    keys[name] = config;
  }
  return keys;
}

export const SCENARIO_FIELDS = [
  '$schema',
  'name',
  'description',
  'limits',
  'modelLimits',
  'burstMs',
  'keys',
  'unavailableModels',
  'streamChunkDelayMs',
  'cachedInputShare',
  'loop',
  'phases',
] as const;

/**
 * Checks `value` against the scenario schema and returns a clean copy
 * (`kind: 503` becomes `'503'`, `"unlimited"` becomes `Infinity`).
 * Throws a `ScenarioValidationError` naming `source` and every bad field.
 */
export function validateScenario(value: unknown, source = 'scenario'): ScenarioDefinition {
  const issues: Issues = [];
  const raw = record(value, '', SCENARIO_FIELDS, issues);
  if (!raw) throw new ScenarioValidationError(source, issues);

  const scenario: ScenarioDefinition = {
    name: stringField(raw.name, 'name', issues, true) ?? '',
    phases: [],
  };
  const description = raw.description;
  if (description !== undefined) {
    if (typeof description === 'string') scenario.description = description;
    else issues.push({ path: 'description', message: `must be a string (got ${describe(description)})` });
  }
  const limits = limitsField(raw.limits, 'limits', issues);
  const modelLimits = modelLimitsField(raw.modelLimits, 'modelLimits', issues);
  const burstMs = numberField(raw.burstMs, 'burstMs', BURST_RULE, issues);
  const keys = keysField(raw.keys, 'keys', issues);
  const unavailableModels = stringList(raw.unavailableModels, 'unavailableModels', issues);
  const streamChunkDelayMs = numberField(
    raw.streamChunkDelayMs,
    'streamChunkDelayMs',
    { min: 0, max: 60_000 },
    issues,
  );
  if (limits !== undefined) scenario.limits = limits;
  if (modelLimits !== undefined) scenario.modelLimits = modelLimits;
  if (burstMs !== undefined) scenario.burstMs = burstMs;
  if (keys !== undefined) scenario.keys = keys;
  if (unavailableModels !== undefined) scenario.unavailableModels = unavailableModels;
  if (streamChunkDelayMs !== undefined) scenario.streamChunkDelayMs = streamChunkDelayMs;
  const cachedInputShare = numberField(raw.cachedInputShare, 'cachedInputShare', { min: 0, max: 1 }, issues);
  if (cachedInputShare !== undefined) scenario.cachedInputShare = cachedInputShare;
  if (raw.loop !== undefined) {
    if (typeof raw.loop === 'boolean') scenario.loop = raw.loop;
    else issues.push({ path: 'loop', message: `must be true or false (got ${describe(raw.loop)})` });
  }

  if (!Array.isArray(raw.phases) || raw.phases.length === 0) {
    issues.push({
      path: 'phases',
      message:
        raw.phases === undefined
          ? 'is required (a list of at least one phase)'
          : 'must be a list of at least one phase',
    });
  } else {
    const seen = new Set<string>();
    raw.phases.forEach((item, index) => {
      const phase = phaseField(item, join('phases', index), issues);
      if (!phase) return;
      if (phase.name && seen.has(phase.name)) {
        issues.push({
          path: join(join('phases', index), 'name'),
          message: `repeats the phase name "${phase.name}"`,
        });
      }
      seen.add(phase.name);
      scenario.phases.push(phase);
    });
  }

  if (issues.length > 0) throw new ScenarioValidationError(source, issues);
  return scenario;
}

// --- JSON Schema (draft 2020-12), for editors and `scenario.schema.json` ------

const positive = { type: 'number', exclusiveMinimum: 0 } as const;
const models = { type: 'array', items: { type: 'string', minLength: 1 } } as const;
const quota = {
  description: `Tokens that may be spent; "${UNLIMITED}" never runs out.`,
  oneOf: [{ type: 'number', minimum: 0 }, { const: UNLIMITED }],
} as const;
const burst = {
  type: 'number',
  exclusiveMinimum: 0,
  maximum: 60_000,
  description: "How much of a minute's limit may be spent at once, in ms of refill. Default 60000.",
} as const;
const limits = {
  type: 'object',
  additionalProperties: false,
  properties: {
    rpm: { ...positive, description: 'Requests per minute.' },
    tpm: { ...positive, description: 'Tokens per minute.' },
  },
} as const;
const modelLimits = {
  type: 'object',
  description:
    "Models with limits (and buckets) of their own, by model name; a field left out comes from the key's limits.",
  propertyNames: { minLength: 1 },
  additionalProperties: limits,
} as const;

export const SCENARIO_JSON_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'retryscope simulator scenario',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'phases'],
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    limits: { ...limits, description: 'Base per-key limits.' },
    modelLimits,
    burstMs: burst,
    keys: {
      type: 'object',
      description: 'Per API key settings.',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: { quotaTokens: quota, limits, modelLimits },
      },
    },
    unavailableModels: { ...models, description: 'Models that always answer 503.' },
    streamChunkDelayMs: { type: 'number', minimum: 0, maximum: 60_000 },
    cachedInputShare: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      description: 'Share of each prompt reported as cached (cached_tokens). Default 0.5.',
    },
    loop: { type: 'boolean', description: 'Start again after the last phase. Default true.' },
    phases: { type: 'array', minItems: 1, items: { $ref: '#/$defs/phase' } },
  },
  $defs: {
    phase: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: { type: 'string', minLength: 1 },
        weight: { ...positive, description: 'Relative length of the phase. Default 1.' },
        limitsScale: { ...positive, description: 'Multiplies rate limits during the phase.' },
        burstMs: burst,
        quotaTokens: {
          ...quota,
          description: 'Tokens each key without its own quota may spend in this phase.',
        },
        unavailableModels: models,
        latencyMs: {
          oneOf: [
            { type: 'number', minimum: 0, maximum: 600_000 },
            {
              type: 'object',
              additionalProperties: false,
              required: ['min', 'max'],
              properties: {
                min: { type: 'number', minimum: 0, maximum: 600_000 },
                max: { type: 'number', minimum: 0, maximum: 600_000 },
              },
            },
          ],
        },
        faults: { type: 'array', items: { $ref: '#/$defs/fault' } },
      },
    },
    fault: {
      type: 'object',
      additionalProperties: false,
      required: ['kind'],
      anyOf: [{ required: ['probability'] }, { required: ['every'] }],
      properties: {
        kind: {
          description: 'What goes wrong. Status codes may be written as numbers.',
          oneOf: [
            { enum: [...FAULT_KINDS] },
            { enum: FAULT_KINDS.filter((kind) => /^\d+$/.test(kind)).map(Number) },
          ],
        },
        probability: { type: 'number', minimum: 0, maximum: 1 },
        every: { type: 'integer', minimum: 1 },
        burst: { type: 'integer', minimum: 1 },
        routes: { type: 'array', items: { enum: [...ROUTE_IDS] } },
        models,
        delayMs: { type: 'number', minimum: 0, maximum: 600_000, description: 'kind slow only.' },
        afterChunks: {
          type: 'integer',
          minimum: 0,
          description:
            'kinds stream_error, response_failed, response_incomplete (streams): content chunks before the failure; response_failed defaults to 0 (response.failed is the first event).',
        },
        code: {
          type: 'string',
          pattern: '^[a-z0-9_]{1,64}$',
          description:
            'response_failed: the error code (default server_error, e.g. rate_limit_exceeded); response_incomplete: the reason (default max_output_tokens, e.g. content_filter).',
        },
        advertise: {
          enum: [...FAULT_ADVERTISE],
          description:
            'kind 429 only: its x-ratelimit-* headers say the bucket is empty (default), as it really is, or nothing.',
        },
      },
    },
  },
} as const;

/** Validates a list of faults on its own (the `faults` option, the CLI's `--fault`). */
export function validateFaults(value: unknown, source: string): FaultSpec[] {
  const issues: Issues = [];
  if (!Array.isArray(value)) {
    throw new ScenarioValidationError(source, [{ path: '', message: 'must be a list' }], 'faults');
  }
  const faults = value.flatMap((fault, index) => {
    const parsed = faultField(fault, `[${index}]`, issues);
    return parsed ? [parsed] : [];
  });
  if (issues.length > 0) throw new ScenarioValidationError(source, issues, 'faults');
  return faults;
}

/** Validates per-model limits on their own (the `modelLimits` option). */
export function validateModelLimits(value: unknown, source: string): ModelLimits {
  const issues: Issues = [];
  const out = modelLimitsField(value, '', issues) ?? {};
  if (issues.length > 0) throw new ScenarioValidationError(source, issues, 'modelLimits');
  return out;
}

/** Validates per-key settings on their own (the `keys` option). */
export function validateKeys(value: unknown, source: string): Record<string, KeyConfig> {
  const issues: Issues = [];
  const keys = keysField(value, '', issues) ?? {};
  if (issues.length > 0) throw new ScenarioValidationError(source, issues, 'keys');
  return keys;
}
