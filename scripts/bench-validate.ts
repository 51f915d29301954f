/**
 * The worst event-loop stall while pre-flight validation judges a long
 * prompt: a setImmediate ticker runs beside `validateRequest` and records the
 * longest gap between two of its turns, which is how long any other call in
 * the process would have waited.
 *
 *   node scripts/bench-validate.ts                  # this checkout
 *   node scripts/bench-validate.ts --before db11ed0 # the src/policy of another commit, for comparison
 *
 * Prompts are one user message of 1, 5 and 20 MB (UTF-8) of English or
 * Chinese prose, to gpt-4o-mini (128k window) and gpt-4.1 (1M). English is
 * about a token per word, which the piece bound sees; Chinese runs a dozen
 * characters to a piece, so judging it takes the tokenizer. The tokenizer is
 * loaded once first, and that load's stall is reported on its own line.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { before: { type: 'string' } } });
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

type Validate = (...args: unknown[]) => unknown;

async function loadValidator(): Promise<{ label: string; run: (body: unknown) => Promise<unknown> }> {
  let dir = root;
  let label = 'this checkout';
  if (values.before) {
    const ref = execFileSync('git', ['rev-parse', '--short', values.before], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    // Inside the checkout (.cache is ignored), so that its imports resolve to this node_modules.
    dir = join(root, '.cache', 'bench-validate', ref);
    if (!existsSync(join(dir, 'src', 'policy'))) {
      mkdirSync(dir, { recursive: true });
      const tar = execFileSync('git', ['archive', ref, 'src/policy'], { cwd: root });
      execFileSync('tar', ['-x', '-C', dir], { input: tar });
    }
    label = `commit ${ref}`;
  }
  const mod = (await import(pathToFileURL(join(dir, 'src', 'policy', 'validate.ts')).href)) as {
    validateRequest: Validate;
  };
  const validate = mod.validateRequest;
  // Before issue 10 it was validateRequest(api, body, options), synchronous.
  const legacy = validate.length >= 2;
  return {
    label,
    run: async (body) =>
      legacy
        ? validate('chat.completions', body, {})
        : await validate({ method: 'post', path: '/chat/completions', body }, {}),
  };
}

/**
 * Runs `work` beside a setImmediate ticker. The longest gap between two turns
 * is the stall other calls saw (wall time, so on a loaded machine it includes
 * time the OS gave to other processes); the most CPU the process used within
 * one gap is the stall the same work would cause on an idle core.
 */
async function measure(
  work: () => Promise<unknown>,
): Promise<{ stallMs: number; cpuMs: number; wallMs: number; result: unknown }> {
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let worst = 0;
  let worstCpu = 0;
  let running = true;
  const sample = () => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    worst = Math.max(worst, now - last);
    worstCpu = Math.max(worstCpu, (cpu.user + cpu.system) / 1000);
    last = now;
    lastCpu = process.cpuUsage();
  };
  const tick = () => {
    sample();
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const started = performance.now();
  const result = await work();
  const ended = performance.now();
  running = false;
  sample();
  await new Promise((r) => setImmediate(r));
  return { stallMs: worst, cpuMs: worstCpu, wallMs: ended - started, result };
}

const ENGLISH = 'The quick brown fox jumps over the lazy dog. ';
const CHINESE = '敏捷的棕色狐狸跳过了那只懒狗，然后继续向前跑去。';

function prose(sentence: string, megabytes: number): string {
  const bytes = Buffer.byteLength(sentence);
  return sentence.repeat(Math.ceil((megabytes * 1_000_000) / bytes));
}

function verdict(result: unknown): string {
  const p = result as { code?: string; message?: string } | undefined;
  if (!p) return 'sent';
  const m = /requested (about|at least) (\d+)/.exec(p.message ?? '');
  return m ? `refused (${m[1]} ${m[2]} tokens)` : `refused (${p.code})`;
}

const validator = await loadValidator();
const body = (model: string, content: string) => ({ model, messages: [{ role: 'user', content }] });

// The one-time load of the tokenizer's ranks, then everything warm.
const first = await measure(() => validator.run(body('gpt-4o-mini', prose(CHINESE, 1))));
const rows: string[] = [];
for (const [language, sentence] of [
  ['English', ENGLISH],
  ['Chinese', CHINESE],
] as const) {
  for (const model of ['gpt-4o-mini', 'gpt-4.1']) {
    for (const mb of [1, 5, 20]) {
      const content = prose(sentence, mb);
      const m = await measure(() => validator.run(body(model, content)));
      rows.push(
        `| ${language} | ${mb} MB | ${model} | ${m.stallMs.toFixed(1)} | ${m.cpuMs.toFixed(1)} | ${m.wallMs.toFixed(0)} | ${verdict(m.result)} |`,
      );
    }
  }
}

console.log(
  `Validator: ${validator.label}; Node ${process.versions.node}; ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}`,
);
console.log(
  `Load average at the end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')}`,
);
console.log(
  `First tokenizer load (1 MB Chinese, gpt-4o-mini): worst stall ${first.stallMs.toFixed(1)} ms wall, ${first.cpuMs.toFixed(1)} ms CPU; ${first.wallMs.toFixed(0)} ms in all\n`,
);
console.log(
  '| Prompt | Size | Model | Worst stall, wall ms | Worst stall, CPU ms | Validation ms | Verdict |',
);
console.log('| --- | ---: | --- | ---: | ---: | ---: | --- |');
for (const row of rows) console.log(row);
