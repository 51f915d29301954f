/**
 * `@opentelemetry/api` is a peer dependency: retryscope records through the
 * app's API copy, whichever SDK line registered the global providers. Each app
 * is a child process in a temp directory laid out as npm installs it, with the
 * OpenTelemetry packages of test/compat/fixtures/otel-sdk{2,3} (installed by
 * npm as file: devDependencies, since SDK 2.x needs api < 1.10 next to the
 * repository's 1.10).
 */
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chatCompletion, rateLimited, ScriptedServer } from '../helpers/scripted-server.ts';
import { AppDir, packageDir, repo } from './helpers/app-dir.ts';

const OTEL = [
  '@opentelemetry/api',
  '@opentelemetry/context-async-hooks',
  '@opentelemetry/sdk-metrics',
] as const;

interface Report {
  content: string;
  spans: { name: string; parent: string | null; attempt: number | null; traceShared: boolean }[];
  metrics: string[];
}

let server: ScriptedServer;
const apps: AppDir[] = [];
beforeAll(async () => {
  server = await new ScriptedServer().start();
});
afterAll(() => {
  server.close();
  for (const app of apps) app.remove();
});

async function appOn(line: 2 | 3): Promise<{ app: AppDir; retryscope: string; fixture: string }> {
  const fixture = join(repo, 'test/compat/fixtures', `otel-sdk${line}`);
  const app = new AppDir();
  apps.push(app);
  for (const name of [...OTEL, line === 2 ? '@opentelemetry/sdk-trace-base' : '@opentelemetry/sdk-trace']) {
    app.link(name, fixture);
  }
  app.link('openai');
  const retryscope = await app.installRetryscope();
  for (const file of ['otel-checks.cjs', 'otel-app.mjs', 'otel-app.cjs']) {
    app.write(file, readFileSync(join(fixture, '..', file), 'utf8'));
  }
  return { app, retryscope, fixture };
}

type Entry = 'otel-app.mjs' | 'otel-app.cjs';

async function runApp(app: AppDir, line: 2 | 3, entry: Entry): Promise<Report> {
  // One 429 then a success: two attempt spans, a backoff, rate-limit gauges, token usage.
  server.reply(rateLimited(1), { json: chatCompletion('hello from the app') });
  return (await app.node(entry, { SDK_LINE: String(line), OPENAI_BASE_URL: server.url })) as Report;
}

/** What instrument() records for that call, on any SDK line. */
function expectEverything(report: Report) {
  expect(report.content).toBe('hello from the app');
  expect(server.received).toHaveLength(2);
  const app = report.spans.find((s) => s.name === 'app');
  const attempts = report.spans.filter((s) => s.attempt !== null);
  const operation = report.spans.filter((s) => s.parent === 'app');
  expect(app?.parent).toBeNull();
  expect(operation).toHaveLength(1);
  expect(attempts.map((s) => [s.attempt, s.parent])).toEqual([
    [1, operation[0]!.name],
    [2, operation[0]!.name],
  ]);
  expect(report.spans.every((s) => s.traceShared)).toBe(true);
  expect(report.metrics).toEqual(
    expect.arrayContaining([
      'gen_ai.client.operation.duration',
      'gen_ai.client.token.usage',
      'retryscope.client.attempts',
      'retryscope.client.backoff.duration',
      'retryscope.client.ratelimit.remaining_requests',
      'retryscope.client.ratelimit.remaining_tokens',
    ]),
  );
}

const reports: Report[] = [];

describe.each([2, 3] as const)('an app on OpenTelemetry SDK %i.x with global providers', (line) => {
  let app: AppDir;
  let fixture: string;
  beforeAll(async () => {
    ({ app, fixture } = await appOn(line));
  });

  test('uses the @opentelemetry/api its SDK line accepts', () => {
    const version = JSON.parse(
      readFileSync(join(packageDir('@opentelemetry/api', fixture), 'package.json'), 'utf8'),
    ).version;
    expect(version).toBe(line === 2 ? '1.9.0' : '1.10.0');
  });

  test.each([
    ['an ES module', 'otel-app.mjs'],
    ['a CommonJS', 'otel-app.cjs'],
  ] as const)('gets every span and metric of an instrumented call, as %s app', async (_kind, entry) => {
    const report = await runApp(app, line, entry);
    expectEverything(report);
    reports.push(report);
  });
});

test('every SDK line and module format gets the same spans and the same metrics', () => {
  expect(reports).toHaveLength(4);
  for (const report of reports.slice(1)) {
    expect(report.spans).toEqual(reports[0]!.spans);
    expect(report.metrics).toEqual(reports[0]!.metrics);
  }
});

test('with the 0.1 layout (api 1.10.0 as retryscope’s own dependency) an SDK 2.x app got nothing', async () => {
  // What npm installs for a pinned dependency the app's version does not satisfy: a nested copy.
  const { app, retryscope } = await appOn(2);
  const nested = join(retryscope, 'node_modules/@opentelemetry');
  mkdirSync(nested, { recursive: true });
  symlinkSync(packageDir('@opentelemetry/api', repo), join(nested, 'api'), 'dir');
  const report = await runApp(app, 2, 'otel-app.mjs');
  expect(report.content).toBe('hello from the app');
  expect(report.spans.map((s) => s.name)).toEqual(['app']);
  expect(report.metrics).toEqual([]);
});
