/**
 * Dual-package safety, on the built package: a CommonJS app and an ES module
 * app (child processes) each get retryscope errors that are `instanceof` the
 * SDK classes of their own copy of openai and of retryscope's classes, and
 * `.cts`/`.mts` consumers typecheck under `module: nodenext`. Each property is
 * also shown failing with the 0.1 layout (an ESM-only package).
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  apiError,
  chatCompletion,
  quotaExhausted,
  type ReceivedRequest,
  type Reply,
  rateLimited,
  ScriptedServer,
} from '../helpers/scripted-server.ts';
import { AppDir, repo } from './helpers/app-dir.ts';

const fixtures = join(repo, 'test/compat/fixtures/dual');
const tsc = join(repo, 'node_modules/typescript/bin/tsc');

let server: ScriptedServer;
const apps: AppDir[] = [];
beforeAll(async () => {
  server = await new ScriptedServer().start();
  const retries = new Map<string, number>();
  server.replyWith((request: ReceivedRequest): Reply => {
    const body = request.body as { messages: { content: string }[]; stream?: boolean };
    const content = body.messages[0]?.content ?? '';
    if (content === 'quota') return quotaExhausted();
    if (content === 'not-found') return apiError(404, null, 'invalid_request_error', 'no such model');
    if (content === 'stream') {
      return {
        sse: ['one', 'two'].map((c) => ({ ...chunk, choices: [{ index: 0, delta: { content: c } }] })),
      };
    }
    const seen = (retries.get(request.url) ?? 0) + 1;
    retries.set(request.url, seen);
    return seen % 2 === 1 ? rateLimited(1) : { json: chatCompletion('after a retry') };
  });
});
afterAll(() => {
  server.close();
  for (const app of apps) app.remove();
});

const chunk = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini' };

/**
 * An app with openai, @opentelemetry/api, gpt-tokenizer (an optional peer: the app's to
 * install, as for exact token counts), the built retryscope, and the fixtures of test/compat/fixtures/dual.
 */
async function app(layout: 'dual' | 'esm-only'): Promise<AppDir> {
  const dir = new AppDir();
  apps.push(dir);
  dir.link('openai').link('@opentelemetry/api').link('gpt-tokenizer');
  const installed = await dir.installRetryscope();
  if (layout === 'esm-only') {
    // retryscope 0.1's exports: no `require` build, so require() loads the ESM build.
    const pkgPath = join(installed, 'package.json');
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
    pkg.exports['.'] = pkg.exports['.'].import;
    writeFileSync(pkgPath, JSON.stringify(pkg));
  }
  for (const file of readdirSync(fixtures)) dir.write(file, readFileSync(join(fixtures, file), 'utf8'));
  // The same consumer as an ES module: resolves retryscope's and openai's ESM types.
  dir.write('consumer.mts', readFileSync(join(fixtures, 'consumer.cts'), 'utf8'));
  return dir;
}

const everything = {
  invalidIsBadRequestError: true,
  invalidIsAPIError: true,
  invalidIsInvalidRequestError: true,
  invalidIsNotQuota: true,
  quotaIsRateLimitError: true,
  quotaIsQuotaExhaustedError: true,
  quotaAttempts: 1,
  notFoundIsNotFoundError: true,
  rateLimitRetried: true,
  promiseIsAPIPromise: true,
  streamIsStream: true,
  streamChunks: 2,
};

describe.each([
  ['CommonJS', 'app.cjs'],
  ['ES module', 'app.mjs'],
])('a %s app', (_kind, entry) => {
  test('gets errors, promises and streams of its own openai copy, and retryscope classes', async () => {
    const report = await (await app('dual')).node(entry, { OPENAI_BASE_URL: server.url });
    expect(report).toEqual(
      entry === 'app.cjs'
        ? {
            ...everything,
            twoCopies: true,
            brandAcrossCopies: true,
            brandIsPrecise: true,
            tokenizerLoads: true,
          }
        : everything,
    );
  });
});

test('with the 0.1 layout (ESM only) a CommonJS app got ESM-openai errors and promises, and no retry of a 429', async () => {
  const report = (await (await app('esm-only')).node('app.cjs', { OPENAI_BASE_URL: server.url })) as Record<
    string,
    unknown
  >;
  expect(report).toMatchObject({
    invalidIsBadRequestError: false,
    invalidIsAPIError: false,
    invalidIsInvalidRequestError: true,
    // Its own `instanceof OpenAI.APIError` missed the app's errors: a 429 was not classified, not retried.
    rateLimitRetried: false,
    promiseIsAPIPromise: false,
  });
});

async function typecheck(dir: AppDir): Promise<string> {
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', join(dir.dir, 'tsconfig.json')], {
      cwd: dir.dir,
    });
    return '';
  } catch (error) {
    return String((error as { stdout?: string }).stdout);
  }
}

test('.cts and .mts consumers typecheck under module nodenext', async () => {
  expect(await typecheck(await app('dual'))).toBe('');
});

test('with the 0.1 layout (ESM types only) a .cts consumer failed to typecheck', async () => {
  const out = await typecheck(await app('esm-only'));
  expect(out).toMatch(/consumer\.cts.*TS2(345|322)/);
  expect(out).not.toMatch(/consumer\.mts/);
});
