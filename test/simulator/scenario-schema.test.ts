/** Scenario files: the examples load, the schema file is current, bad files say what is wrong. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FAULT_KINDS,
  loadScenarioFile,
  NAMED_SCENARIOS,
  ROUTE_IDS,
  SCENARIO_JSON_SCHEMA,
  ScenarioValidationError,
  startSimulator,
  validateScenario,
} from '../../src/simulator/index.ts';
import { FAULT_FIELDS, PHASE_FIELDS, SCENARIO_FIELDS } from '../../src/simulator/scenario-schema.ts';
import { simulator } from './helpers.ts';
import { SCHEMA_PATH, schemaText } from './support/write-schema.ts';

const SCENARIOS_DIR = new URL('../../scenarios/', import.meta.url);
const example = (name: string) => new URL(name, SCENARIOS_DIR).pathname;

const dir = mkdtempSync(join(tmpdir(), 'retryscope-scenarios-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The message of what `load` throws. */
function failure(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return (error as Error).message;
  }
  throw new Error('expected it to throw');
}

describe('example scenario files', () => {
  it.each(Object.keys(NAMED_SCENARIOS))('scenarios/%s.yaml is the built-in scenario', (name) => {
    expect(loadScenarioFile(example(`${name}.yaml`))).toEqual(
      NAMED_SCENARIOS[name as keyof typeof NAMED_SCENARIOS],
    );
  });

  it('scenarios/flaky-gateway.yaml loads and runs', async () => {
    const scenario = loadScenarioFile(example('flaky-gateway.yaml'));
    expect(scenario.phases[1]?.faults?.[0]).toEqual({ kind: '502', every: 10, routes: ['chat.completions'] });
    expect(scenario.keys?.['sk-sim-batch']).toEqual({ limits: { rpm: 60 }, quotaTokens: 50_000 });
    const sim = await simulator({ scenario });
    expect(sim.phase()).toBe('calm');
  });

  it('JSON files work too', () => {
    const path = file('tiny.json', JSON.stringify({ name: 'tiny', phases: [{ name: 'only' }] }));
    expect(loadScenarioFile(path)).toEqual({ name: 'tiny', phases: [{ name: 'only' }] });
  });
});

describe('scenario.schema.json', () => {
  it('is generated from SCENARIO_JSON_SCHEMA (run test/simulator/support/write-schema.ts)', () => {
    expect(readFileSync(SCHEMA_PATH, 'utf8')).toBe(schemaText());
  });

  it('knows exactly the fields and enums the validator knows', () => {
    const { properties, $defs } = SCENARIO_JSON_SCHEMA;
    expect(Object.keys(properties).sort()).toEqual([...SCENARIO_FIELDS].sort());
    expect(Object.keys($defs.phase.properties).sort()).toEqual([...PHASE_FIELDS].sort());
    expect(Object.keys($defs.fault.properties).sort()).toEqual([...FAULT_FIELDS].sort());
    expect($defs.fault.properties.kind.oneOf[0].enum).toEqual([...FAULT_KINDS]);
    expect($defs.fault.properties.routes.items.enum).toEqual([...ROUTE_IDS]);
  });
});

describe('validation errors name the file, the field and the problem', () => {
  it.each([
    [
      'a probability out of range',
      'name: x\nphases:\n  - name: a\n    faults:\n      - { kind: 500, probability: 1.5 }\n',
      'phases[0].faults[0].probability must be a number >= 0 and <= 1 (got 1.5)',
    ],
    [
      'a code on a fault it does not apply to',
      'name: x\nphases:\n  - name: a\n    faults:\n      - { kind: 500, every: 2, code: server_error }\n',
      'phases[0].faults[0].code only applies to kinds response_failed, response_incomplete (this fault is 500)',
    ],
    [
      'an unknown fault kind',
      'name: x\nphases:\n  - name: a\n    faults:\n      - { kind: 418, every: 2 }\n',
      'phases[0].faults[0].kind must be one of: 500, 502, 503, reset',
    ],
    [
      'a misspelt field',
      'name: x\nphases:\n  - name: a\n    faults:\n      - { kind: reset, probabilty: 0.1 }\n',
      'phases[0].faults[0].probabilty is not a known field',
    ],
    ['no phases', 'name: x\n', 'phases is required'],
    ['an empty phase list', 'name: x\nphases: []\n', 'phases must be a list of at least one phase'],
    ['a missing name', 'phases:\n  - name: a\n', 'name is required'],
    [
      'a repeated phase',
      'name: x\nphases:\n  - name: a\n  - name: a\n',
      'phases[1].name repeats the phase name "a"',
    ],
    [
      'a fault that never strikes',
      'name: x\nphases:\n  - name: a\n    faults:\n      - { kind: hang }\n',
      'phases[0].faults[0] needs `probability` or `every`',
    ],
    [
      'delayMs on the wrong kind',
      'name: x\nphases:\n  - name: a\n    faults:\n      - { kind: 500, every: 1, delayMs: 10 }\n',
      'phases[0].faults[0].delayMs only applies to kind slow',
    ],
    [
      'a bad route',
      'name: x\nphases:\n  - name: a\n    faults:\n      - { kind: 500, every: 1, routes: [chat] }\n',
      'phases[0].faults[0].routes[0] must be one of: chat.completions, responses, embeddings, models (got "chat")',
    ],
    [
      'a negative limit',
      'name: x\nlimits: { rpm: -5 }\nphases: [{ name: a }]\n',
      'limits.rpm must be a number > 0 (got -5)',
    ],
    [
      'a bad quota',
      'name: x\nkeys:\n  sk-a: { quotaTokens: lots }\nphases: [{ name: a }]\n',
      'keys.sk-a.quotaTokens must be a number >= 0 or "unlimited" (got "lots")',
    ],
    [
      'a burst longer than a minute',
      'name: x\nphases:\n  - name: a\n    burstMs: 90000\n',
      'phases[0].burstMs must be a number > 0 and <= 60000 (got 90000)',
    ],
    [
      'an inverted latency range',
      'name: x\nphases:\n  - name: a\n    latencyMs: { min: 50, max: 10 }\n',
      'phases[0].latencyMs min (50) must not exceed max (10)',
    ],
  ])('%s', (_, yaml, expected) => {
    const path = file('bad.yaml', yaml);
    const message = failure(() => loadScenarioFile(path));
    expect(message).toContain(`Invalid scenario in ${path}: `);
    expect(message).toContain(expected);
    expect(message).not.toContain('\n');
  });

  it('lists several problems at once', () => {
    const path = file('many.yaml', 'name: 3\nloop: sometimes\nphases:\n  - weight: 0\n');
    const error = (() => {
      try {
        loadScenarioFile(path);
      } catch (caught) {
        return caught as ScenarioValidationError;
      }
    })();
    expect(error).toBeInstanceOf(ScenarioValidationError);
    expect(error?.issues.map((issue) => issue.path)).toEqual([
      'name',
      'loop',
      'phases[0].name',
      'phases[0].weight',
    ]);
  });

  it('a YAML syntax error names the file', () => {
    const path = file('broken.yaml', 'name: x\nphases: [\n');
    expect(failure(() => loadScenarioFile(path))).toMatch(
      new RegExp(`^Cannot parse scenario file ${path} as YAML: `),
    );
  });

  it('a JSON syntax error names the file', () => {
    const path = file('broken.json', '{"name": ');
    expect(failure(() => loadScenarioFile(path))).toMatch(
      new RegExp(`^Cannot parse scenario file ${path} as JSON: `),
    );
  });

  it('a missing file says so', () => {
    expect(failure(() => loadScenarioFile(join(dir, 'nope.yaml')))).toBe(
      `Cannot read scenario file ${join(dir, 'nope.yaml')}: no such file`,
    );
  });

  it('a non-object document says what it got', () => {
    const path = file('list.yaml', '- 1\n- 2\n');
    expect(failure(() => loadScenarioFile(path))).toContain('(root) must be an object (got an array)');
  });

  it('startSimulator checks scenario objects and options the same way', async () => {
    const badScenario = { name: 'x', phases: [{ name: 'a', limitsScale: -1 }] };
    await expect(startSimulator({ scenario: badScenario })).rejects.toThrow(
      'Invalid scenario in the scenario option: phases[0].limitsScale must be a number > 0 (got -1)',
    );
    await expect(startSimulator({ scenario: 'hurricane' as 'storm' })).rejects.toThrow(
      'Unknown scenario "hurricane" (expected one of: steady, storm, outage, quota, mixed)',
    );
    await expect(startSimulator({ port: 70_000 })).rejects.toThrow('port must be an integer from 0 to 65535');
    await expect(startSimulator({ durationMs: 0 })).rejects.toThrow('durationMs must be a positive number');
    await expect(startSimulator({ limits: { rpm: 0 } })).rejects.toThrow(
      'limits.rpm must be a positive number',
    );
    await expect(startSimulator({ faults: [{ kind: 'boom' as 'hang', every: 1 }] })).rejects.toThrow(
      'Invalid faults in the faults option: [0].kind must be one of',
    );
  });

  it('validateScenario leaves a valid definition as it was', () => {
    expect(validateScenario(NAMED_SCENARIOS.mixed)).toEqual(NAMED_SCENARIOS.mixed);
  });
});
