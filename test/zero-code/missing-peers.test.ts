/**
 * Zero-code without its optional peers (hidden by test/fixtures/hide-packages.mjs, run
 * from the sources) or with an OTEL_* variable it cannot honour: register warns
 * once and the app runs; RetryscopeInstrumentation imports, and throws the
 * install line when constructed.
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { INSTRUMENTATION_PEERS, installLine, TELEMETRY_PEERS } from '../../src/optional-peers.ts';
import { chatCompletion, ScriptedServer } from '../helpers/scripted-server.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const HIDE = join(ROOT, 'test/fixtures/hide-packages.mjs');
const run = promisify(execFile);

let server: ScriptedServer;
beforeAll(async () => {
  server = await new ScriptedServer().start();
  server.replyWith(() => ({ json: chatCompletion('fine') }));
});
afterAll(() => server.close());

const APP =
  "import OpenAI from 'openai';" +
  "const c = new OpenAI({ baseURL: process.env.APP_BASE_URL, apiKey: 'k' });" +
  "const r = await c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });" +
  "console.log(JSON.stringify({ content: r.choices[0].message.content, instrumented: Object.hasOwn(c, 'request') }))";

// The same app as CommonJS.
const CJS_APP = `const OpenAI = require('openai'); (async () => { ${APP.replace("import OpenAI from 'openai';", '')} })()`;

/** Runs node with the packages in `hidden` unresolvable; `--require` preloads run before `--import` ones, so the hider goes first of its kind. */
async function node(args: string[], hidden: string, hideWith = '--import', env: Record<string, string> = {}) {
  const { stdout, stderr } = await run(
    process.execPath,
    [hideWith, HIDE, '--conditions=retryscope-source', ...args],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        HIDE_PACKAGES: hidden,
        APP_BASE_URL: server.url,
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'none',
        ...env,
      },
    },
  );
  const warnings = stderr.split('\n').filter((l) => l.includes('Warning: retryscope'));
  return { stdout: stdout.trim(), warnings };
}

test.each([
  ['an ES module', '--import', ['--import', 'retryscope/register', '--input-type=module', '-e', APP]],
  ['a CommonJS', '--require', ['--require', 'retryscope/register', '--input-type=commonjs', '-e', CJS_APP]],
])(
  'register in %s app without @opentelemetry/instrumentation: one warning with the install line, the app runs uninstrumented',
  async (_kind, hideWith, args) => {
    const r = await node(args, '@opentelemetry/instrumentation', hideWith);
    expect(JSON.parse(r.stdout)).toEqual({ content: 'fine', instrumented: false });
    // Which entry says it depends on where the loader is resolved; either way, one line with the command.
    expect(r.warnings).toEqual([
      expect.stringMatching(
        /retryscope: retryscope\/(register|instrumentation) needs @opentelemetry\/instrumentation .*; running uninstrumented$/,
      ),
    ]);
    expect(r.warnings[0]).toContain(installLine(INSTRUMENTATION_PEERS));
  },
);

test('register without the OpenTelemetry SDK: one warning that it was not started; clients are still instrumented', async () => {
  const r = await node(
    ['--import', 'retryscope/register', '--input-type=module', '-e', APP],
    '@opentelemetry/sdk-node',
  );
  expect(JSON.parse(r.stdout)).toEqual({ content: 'fine', instrumented: true });
  expect(r.warnings).toEqual([
    expect.stringContaining(
      `retryscope: the OpenTelemetry SDK was not started (retryscope/telemetry needs the OpenTelemetry SDK (@opentelemetry/sdk-node is not installed): ${installLine(TELEMETRY_PEERS)})`,
    ),
  ]);
});

test('register with an OTEL_* variable it cannot honour: one warning naming it; clients are still instrumented', async () => {
  const r = await node(
    ['--import', 'retryscope/register', '--input-type=module', '-e', APP],
    '',
    '--import',
    {
      OTEL_TRACES_SAMPLER: 'sometimes',
    },
  );
  expect(JSON.parse(r.stdout)).toEqual({ content: 'fine', instrumented: true });
  expect(r.warnings).toEqual([
    expect.stringContaining(
      'retryscope: the OpenTelemetry SDK was not started (OTEL_TRACES_SAMPLER must be one of',
    ),
  ]);
  expect(r.warnings[0]).not.toContain('sometimes');
});

test('RetryscopeInstrumentation without its peer: importing works, constructing throws the one line', async () => {
  const script =
    "const { RetryscopeInstrumentation } = await import('retryscope/instrumentation');" +
    'try { new RetryscopeInstrumentation(); } catch (e) { console.log(JSON.stringify({ name: e.name, message: e.message })); }';
  const r = await node(['--input-type=module', '-e', script], '@opentelemetry/instrumentation');
  expect(JSON.parse(r.stdout)).toEqual({
    name: 'MissingPeerError',
    message: `retryscope/instrumentation needs @opentelemetry/instrumentation (@opentelemetry/instrumentation is not installed): ${installLine(INSTRUMENTATION_PEERS)}`,
  });
});
