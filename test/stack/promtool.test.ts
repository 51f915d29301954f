/**
 * promtool on the shipped Prometheus files: the config the compose stack
 * mounts, the alert rules, and the rules' unit tests. `npm test` installs
 * promtool first (scripts/install-test-deps.sh); without it the file fails.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT, requireTool } from './helpers/tools.ts';

const run = promisify(execFile);
const promtool = requireTool('promtool');
const dir = join(ROOT, 'stack/prometheus');
const ruleFiles = readdirSync(join(dir, 'rules')).map((f) => join(dir, 'rules', f));
const testFiles = readdirSync(join(dir, 'tests')).map((f) => join(dir, 'tests', f));

async function promtoolOk(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(promtool, args, { cwd: dir });
    return stdout + stderr;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

describe('promtool', () => {
  it('is Prometheus 3.x, like the prom/prometheus image the stack runs', async () => {
    expect(await promtoolOk('--version')).toMatch(/promtool, version 3\./);
  });

  it('check config: prometheus.yml (OTLP promotion, rule files) is valid', async () => {
    expect(await promtoolOk('check', 'config', 'prometheus.yml')).toMatch(/SUCCESS: 1 rule files found/);
  });

  it('check rules: every rule file is valid', async () => {
    expect(ruleFiles.length).toBeGreaterThan(0);
    expect(await promtoolOk('check', 'rules', ...ruleFiles)).toMatch(/SUCCESS: 7 rules found/);
  });

  it('test rules: the alert rules fire, stay quiet and resolve as their unit tests say', async () => {
    expect(testFiles.length).toBeGreaterThan(0);
    expect(await promtoolOk('test', 'rules', ...testFiles)).toMatch(/SUCCESS/);
  });
});
