/**
 * Zero-code, on the built package in a consumer app (test/compat/helpers/app-dir.ts):
 * apps that know nothing of retryscope (fixtures/app.mjs, app.cjs), run in a
 * child process with `--import retryscope/register` or `--require retryscope/register`,
 * call a loopback OpenAI server and export their spans over OTLP to a loopback
 * receiver; and the same apps with their own NodeSDK and RetryscopeInstrumentation.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { INSTRUMENTATION_PEERS, TELEMETRY_PEERS } from '../../src/optional-peers.ts';
import { AppDir, packageDir, repo } from '../compat/helpers/app-dir.ts';
import { OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { chatCompletion, rateLimited, ScriptedServer } from '../helpers/scripted-server.ts';

const run = promisify(execFile);
const fixtures = join(import.meta.dirname, 'fixtures');

let server: ScriptedServer;
let receiver: OtlpReceiver;
let app: AppDir;
/** The same app on the oldest openai of retryscope's peer range (devDependency `openai-oldest`). */
let oldest: AppDir;

async function appWith(openai: string): Promise<AppDir> {
  const dir = new AppDir();
  mkdirSync(join(dir.dir, 'node_modules'), { recursive: true });
  // A copy, not a link: require-in-the-middle names a package by its real path, which for the
  // devDependency is node_modules/openai-oldest (an app has it as node_modules/openai).
  if (openai === 'openai') symlinkSync(packageDir(openai, repo), join(dir.dir, 'node_modules/openai'), 'dir');
  else cpSync(packageDir(openai, repo), join(dir.dir, 'node_modules/openai'), { recursive: true });
  dir.link('@opentelemetry/api');
  for (const name of [...INSTRUMENTATION_PEERS, ...TELEMETRY_PEERS]) dir.link(name);
  await dir.installRetryscope();
  for (const file of readdirSync(fixtures)) dir.write(file, readFileSync(join(fixtures, file), 'utf8'));
  return dir;
}
beforeAll(async () => {
  server = await new ScriptedServer().start();
  // Per prompt (one per test): a 429 first, then a completion.
  const seen = new Map<string, number>();
  server.replyWith((request) => {
    const prompt = (request.body as { messages: { content: string }[] }).messages[0]!.content;
    const n = (seen.get(prompt) ?? 0) + 1;
    seen.set(prompt, n);
    return n === 1 ? rateLimited(1) : { json: chatCompletion(`answer to ${prompt}`) };
  });
  receiver = await new OtlpReceiver().start();
  app = await appWith('openai');
  oldest = await appWith('openai-oldest');
});
afterAll(() => {
  server?.close();
  receiver?.close();
  app?.remove();
  oldest?.remove();
});

interface Run {
  report: Record<string, unknown>;
  stderr: string;
  /** This run's spans: the receiver's, by the trace of this run's prompt. */
  spans: Span[];
}

let runs = 0;
async function node(args: string[], env: Record<string, string> = {}, cwd = app.dir): Promise<Run> {
  const prompt = `run ${++runs}`;
  const { stdout, stderr } = await run(process.execPath, args, {
    cwd,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      APP_BASE_URL: server.url,
      PROMPT: prompt,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_SERVICE_NAME: prompt,
      ...env,
    },
  });
  const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  // The child exits only after its SDK has shut down, so its spans have arrived.
  return { report, stderr, spans: spansOf(prompt) };
}

interface Span {
  name: string;
  spanId: string;
  parentSpanId?: string;
  status?: number;
}

/** The spans received from the service named `service` (each run names its own). */
function spansOf(service: string): Span[] {
  type Attr = { key: string; value: { stringValue?: string; intValue?: string | number } };
  const out: Span[] = [];
  for (const b of receiver.bodies.filter((b) => b.path === '/v1/traces')) {
    for (const rs of JSON.parse(b.body.toString('utf8')).resourceSpans ?? []) {
      const attrs = (rs.resource?.attributes ?? []) as Attr[];
      if (attrs.find((a) => a.key === 'service.name')?.value.stringValue !== service) continue;
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          const status = (s.attributes as Attr[]).find((a) => a.key === 'http.response.status_code');
          out.push({
            name: s.name,
            spanId: s.spanId,
            ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
            ...(status ? { status: Number(status.value.intValue) } : {}),
          });
        }
      }
    }
  }
  return out;
}

const attempts = (spans: Span[]) => spans.filter((s) => /^attempt \d+$/.test(s.name));

const sdkApp = {
  'ES module': ['--import', './otel.mjs', 'app.mjs'],
  CommonJS: ['--require', './otel.cjs', 'app.cjs'],
};

describe.each([
  ['ES module', ['--import', 'retryscope/register', 'app.mjs']],
  ['CommonJS', ['--require', 'retryscope/register', 'app.cjs']],
] as const)('%s app with retryscope/register', (kind, args) => {
  test('every client is instrumented: a 429 then a 200 is one operation of 2 attempt spans, and the classes are the SDK’s', async () => {
    const r = await node([...args]);
    expect(r.report).toEqual({
      content: expect.stringMatching(/^answer to run \d+$/),
      clientIsOpenAI: true,
      clientInstrumented: true,
      azureInstrumented: true,
      azureIsAzure: true,
      azureIsOpenAI: true,
      hasErrorClass: true,
    });
    expect(r.stderr).toBe('');
    const tries = attempts(r.spans);
    expect(tries.map((s) => s.status)).toEqual([429, 200]);
    // Both under one operation span.
    expect(new Set(tries.map((s) => s.parentSpanId)).size).toBe(1);
  });

  test('RETRYSCOPE_MAX_ATTEMPTS=1: one attempt, and the 429 reaches the app as the SDK’s error', async () => {
    const r = await node([...args], { RETRYSCOPE_MAX_ATTEMPTS: '1' });
    expect(r.report).toMatchObject({ error: 'RateLimitError', isSdkRateLimitError: true });
    expect(attempts(r.spans)).toHaveLength(1);
  });

  test('RETRYSCOPE_DISABLED=1: no spans, the app runs as without register (the SDK retries the 429 itself)', async () => {
    const r = await node([...args], { RETRYSCOPE_DISABLED: '1' });
    expect(r.report).toMatchObject({
      content: expect.stringMatching(/^answer to run/),
      clientInstrumented: false,
    });
    expect(r.stderr).toBe('');
    expect(r.spans).toEqual([]);
  });

  test('RETRYSCOPE_START_SDK=off: clients instrumented, no SDK started, so no spans exported', async () => {
    const r = await node([...args], { RETRYSCOPE_START_SDK: 'off' });
    expect(r.report).toMatchObject({
      content: expect.stringMatching(/^answer to run/),
      clientInstrumented: true,
    });
    expect(r.spans).toEqual([]);
  });

  test('a bad variable: one warning naming it, not its value; the app still works, uninstrumented', async () => {
    const secret = 'redis://:hunter2@127.0.0.1:1';
    const r = await node([...args], { RETRYSCOPE_MAX_ATTEMPTS: 'lots', RETRYSCOPE_LIMITER_REDIS: secret });
    expect(r.report).toMatchObject({
      content: expect.stringMatching(/^answer to run/),
      clientInstrumented: false,
    });
    const warnings = r.stderr.split('\n').filter((l) => l.includes('retryscope'));
    expect(warnings).toEqual([
      expect.stringContaining(
        'Warning: retryscope: RETRYSCOPE_MAX_ATTEMPTS must be a number; running uninstrumented',
      ),
    ]);
    expect(r.stderr).not.toContain('lots');
    expect(r.stderr).not.toContain('hunter2');
    expect(r.spans).toEqual([]);
  });

  test(`the app's own NodeSDK with RetryscopeInstrumentation (${kind}): its config applies, its provider records`, async () => {
    const r = await node(sdkApp[kind]);
    expect(r.report).toMatchObject({
      clientIsOpenAI: true,
      clientInstrumented: true,
      azureInstrumented: true,
    });
    expect(attempts(r.spans)).toHaveLength(2);
    const one = await node(sdkApp[kind], { APP_MAX_ATTEMPTS: '1' });
    expect(one.report).toMatchObject({ error: 'RateLimitError', isSdkRateLimitError: true });
    expect(attempts(one.spans)).toHaveLength(1);
  });

  test(`register in an app with its own SDK and no RetryscopeInstrumentation (${kind}): spans go to the app's SDK, no second one`, async () => {
    const [entry, ...preloads] = [...sdkApp[kind]].reverse();
    const own = `own sdk ${runs + 1}`;
    const r = await node([...[...preloads].reverse(), ...args.slice(0, 2), entry!], { APP_SDK_SERVICE: own });
    expect(r.report).toMatchObject({ clientInstrumented: true });
    // register's SDK would have named the service after the run; the app's names it `own`.
    expect(r.spans).toEqual([]);
    const spans = spansOf(own);
    expect(attempts(spans).map((s) => s.status)).toEqual([429, 200]);
    // The operation span and nothing else: no probe of the provider.
    expect(spans.filter((s) => !/^attempt/.test(s.name))).toHaveLength(1);
  });

  test(`register beside the app's own SDK (${kind}): no second SDK, one layer of spans`, async () => {
    const [entry, ...preloads] = [...sdkApp[kind]].reverse();
    const r = await node([...[...preloads].reverse(), ...args.slice(0, 2), entry!]);
    expect(r.report).toMatchObject({
      content: expect.stringMatching(/^answer to run/),
      clientInstrumented: true,
    });
    // import-in-the-middle's own notice that its loader was registered twice (the app's and register's); nothing of ours.
    const lines = r.stderr.split('\n').filter((l) => l && !l.includes('--trace-warnings'));
    expect(
      lines.filter((l) => !l.includes("'import-in-the-middle' hook has already been initialized")),
    ).toEqual([]);
    expect(attempts(r.spans).map((s) => s.status)).toEqual([429, 200]);
    expect(r.spans.filter((s) => !/^attempt/.test(s.name))).toHaveLength(1);
  });
});

test.each([
  ['ES module', ['--import', 'retryscope/register', 'app.mjs']],
  ['CommonJS', ['--require', 'retryscope/register', 'app.cjs']],
])('%s app on the oldest openai of the peer range: instrumented, 2 attempt spans', async (_kind, args) => {
  const version = JSON.parse(
    readFileSync(join(oldest.dir, 'node_modules/openai/package.json'), 'utf8'),
  ).version;
  expect(`^${version}`).toBe(
    JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).peerDependencies.openai,
  );
  const r = await node(args, {}, oldest.dir);
  expect(r.report).toMatchObject({ clientInstrumented: true, azureInstrumented: true });
  expect(attempts(r.spans).map((s) => s.status)).toEqual([429, 200]);
});

test('an ES module app that also requires the CommonJS openai: that copy’s clients stay the SDK’s, with one warning', async () => {
  const r = await node(['--import', 'retryscope/register', 'mixed.mjs']);
  expect(r.report).toEqual({ twoCopies: true, esm: true, cjs: false });
  const warnings = r.stderr.split('\n').filter((l) => l.includes('retryscope'));
  expect(warnings).toEqual([expect.stringContaining('an openai of the other module format')]);
});

test('--import in a CommonJS app: its clients stay the SDK’s, and the warning says to use --require', async () => {
  const r = await node(['--import', 'retryscope/register', 'app.cjs']);
  expect(r.report).toMatchObject({
    content: expect.stringMatching(/^answer to run/),
    clientInstrumented: false,
  });
  const warnings = r.stderr.split('\n').filter((l) => l.includes('retryscope'));
  expect(warnings).toEqual([expect.stringContaining('--require retryscope/register for CommonJS')]);
});

test('package.json exports register and instrumentation for import and require, and the build has every file they name', async () => {
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
  const installed = join(app.dir, 'node_modules/retryscope');
  for (const entry of ['./register', './instrumentation']) {
    for (const condition of ['import', 'require']) {
      const target = pkg.exports[entry][condition] as { types: string; default: string };
      for (const file of [target.types, target.default])
        expect(existsSync(join(installed, file)), file).toBe(true);
    }
  }
});

test('the README documents every RETRYSCOPE_* variable register reads', async () => {
  const { RETRYSCOPE_VARIABLES } = await import('../../src/zero-code/env-options.ts');
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Zero-code setup'));
  for (const name of RETRYSCOPE_VARIABLES) expect(section, name).toContain(`| \`${name}\``);
});
