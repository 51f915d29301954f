/**
 * Generates src/policy/prices.ts, the built-in price table, from OpenAI's
 * models in @pydantic/genai-prices (a devDependency: Pydantic's maintained,
 * MIT-licensed price database):
 *
 *   node scripts/prices.ts          writes the file
 *   node scripts/prices.ts --check  fails if the committed file differs
 *
 * One entry per model id and per `equals` name in its `match`, each only when
 * genai-prices' own lookup (the first model whose match matches) gives that
 * model: `starts_with` / `regex` / `contains` rules are never turned into
 * prefix guesses (our lookup strips dated snapshots itself). A model whose
 * prices are a list by start date gets the last (the newest). Left out, so
 * unpriced rather than mispriced: models with no token prices (audio hours,
 * moderation) and models whose prices split tokens by modality (audio, image),
 * which the usage we price does not. Per-call tool fees (web and file search)
 * are not token prices and are not applied.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findProvider, type MatchLogic, type ModelInfo } from '@pydantic/genai-prices';
import type { LongContextPrice, ModelPrice, TierPrice } from '../src/policy/pricing.ts';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'policy', 'prices.ts');
const LINE_WIDTH = 110;
const PACKAGE = '@pydantic/genai-prices';

/** genai-prices price key → our field. */
const TOKEN_KEYS = {
  input_mtok: 'input',
  cache_read_mtok: 'cachedInput',
  cache_write_mtok: 'cacheWriteInput',
  output_mtok: 'output',
} as const;
/** Per tool call, not per token: the usage we price does not count them. */
const NOT_TOKENS = new Set(['web_searches_kcount', 'storage_searches_kcount']);

type Field = (typeof TOKEN_KEYS)[keyof typeof TOKEN_KEYS];
type SourceValue = number | { base: number; tiers: { start: number; price: number }[] } | undefined;

/** The installed genai-prices' version and OpenAI's models, in its order. */
export function sourceModels(): { version: string; models: ModelInfo[] } {
  const require = createRequire(import.meta.url);
  // The package exports no ./package.json: find it beside its entry point.
  const entry = require.resolve(PACKAGE);
  const pkg = join(dirname(entry), '..', 'package.json');
  const version = (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  const provider = findProvider({ providerId: 'openai' });
  if (!provider) throw new Error(`${PACKAGE} ${version} has no openai provider`);
  return { version, models: provider.models };
}

/** genai-prices' match semantics (case-insensitive), to find which model it gives a name. */
export function matches(rule: MatchLogic, name: string): boolean {
  const n = name.toLowerCase();
  if ('or' in rule) return rule.or.some((r) => matches(r, name));
  if ('and' in rule) return rule.and.every((r) => matches(r, name));
  if ('equals' in rule) return n === rule.equals.toLowerCase();
  if ('starts_with' in rule) return n.startsWith(rule.starts_with.toLowerCase());
  if ('ends_with' in rule) return n.endsWith(rule.ends_with.toLowerCase());
  if ('contains' in rule) return n.includes(rule.contains.toLowerCase());
  if ('regex' in rule) return new RegExp(rule.regex).test(name);
  return false;
}

/** The exact names a rule lists (`equals`, under `or`); `and` lists none for sure. */
function equalsNames(rule: MatchLogic): string[] {
  if ('equals' in rule) return [rule.equals];
  if ('or' in rule) return rule.or.flatMap(equalsNames);
  return [];
}

/** The model's current prices: the last of a dated list (the newest), or its only ones. */
function currentPrices(model: ModelInfo): Record<string, SourceValue> {
  if (!Array.isArray(model.prices)) return model.prices as Record<string, SourceValue>;
  const last = model.prices.at(-1);
  if (last?.constraint && last.constraint.type !== 'start_date')
    throw new Error(`${model.id}: price constraint ${JSON.stringify(last.constraint)} is not a start date`);
  return (last?.prices ?? {}) as Record<string, SourceValue>;
}

/** The model's main tier, or undefined when it has no price we can apply (see the file's comment). */
export function mainTier(model: ModelInfo): TierPrice | undefined {
  const prices = currentPrices(model);
  const base: Partial<Record<Field, number>> = {};
  const long: Partial<Record<Field, number>> = {};
  let start: number | undefined;
  for (const [key, value] of Object.entries(prices)) {
    if (value === undefined || NOT_TOKENS.has(key)) continue;
    const field = TOKEN_KEYS[key as keyof typeof TOKEN_KEYS];
    if (!field) return undefined;
    if (typeof value === 'number') {
      base[field] = value;
      continue;
    }
    // One long-context step, shared by every tiered key: anything else needs a person to look.
    if (value.tiers.length !== 1 || (start !== undefined && value.tiers[0]!.start !== start))
      throw new Error(`${model.id}: ${key} tiers ${JSON.stringify(value.tiers)} are not one shared step`);
    start = value.tiers[0]!.start;
    base[field] = value.base;
    long[field] = value.tiers[0]!.price;
  }
  if (base.input === undefined) return undefined;
  // An embeddings model has no output-side price at all: its output costs 0. Any other
  // output-side key (output audio, output image) was refused above.
  const tier: TierPrice = { input: base.input, output: base.output ?? 0 };
  if (base.cachedInput !== undefined) tier.cachedInput = base.cachedInput;
  if (base.cacheWriteInput !== undefined) tier.cacheWriteInput = base.cacheWriteInput;
  if (start !== undefined) {
    // A key without tiers keeps its base rate above the threshold, as calcPrice bills it.
    const at = (f: Field) => long[f] ?? base[f];
    const longContext: LongContextPrice = {
      aboveInputTokens: start,
      input: at('input')!,
      output: at('output') ?? 0,
    };
    if (base.cachedInput !== undefined) longContext.cachedInput = at('cachedInput');
    if (base.cacheWriteInput !== undefined) longContext.cacheWriteInput = at('cacheWriteInput');
    tier.longContext = longContext;
  }
  return tier;
}

/** Every rate halved (the threshold kept). */
function half<T extends TierPrice | LongContextPrice>(t: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(t))
    out[k] = k === 'aboveInputTokens' ? v : typeof v === 'number' ? v / 2 : half(v as LongContextPrice);
  return out as T;
}

/** The table: name → prices, from genai-prices' OpenAI models in their order; a model's names share one object. */
export function derive(models: readonly ModelInfo[]): Record<string, ModelPrice> {
  const table: Record<string, ModelPrice> = {};
  for (const model of models) {
    const main = mainTier(model);
    if (!main) continue;
    // OpenAI's Batch API is 50% off input, cached input and output, and flex is billed at
    // batch rates (OpenAI's pricing page; genai-prices' comments say the same): half of main.
    const price: ModelPrice = { ...main, batch: half(main) };
    for (const name of new Set([model.id, ...equalsNames(model.match)])) {
      // Only the names genai-prices itself would price with this model.
      if (models.find((m) => matches(m.match, name)) === model) table[name] = price;
    }
  }
  return table;
}

/** `{ a: 1, b: { c: 2 } }` on one line if it fits at `indent`, else one field per line, as biome formats. */
function literal(value: object, indent: number, lead: number): string {
  const entries = Object.entries(value);
  const flat = `{ ${entries.map(([k, v]) => `${k}: ${typeof v === 'object' ? literal(v, 0, 0) : v}`).join(', ')} }`;
  if (indent + lead + flat.length + 1 <= LINE_WIDTH) return flat;
  const pad = ' '.repeat(indent + 2);
  const lines = entries.map(
    ([k, v]) => `${pad}${k}: ${typeof v === 'object' ? literal(v, indent + 2, k.length + 2) : v},`,
  );
  return `{\n${lines.join('\n')}\n${' '.repeat(indent)}}`;
}

const keyOf = (name: string) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : `'${name}'`);

/** Each model's prices once, under its first name (genai-prices' id when it has one); its other names as aliases. */
export function render(version: string, table: Record<string, ModelPrice>): string {
  const first = new Map<ModelPrice, string>();
  for (const [name, price] of Object.entries(table)) if (!first.has(price)) first.set(price, name);
  const names = Object.keys(table).sort();
  const models = names
    .filter((name) => first.get(table[name]!) === name)
    .map((name) => `  ${keyOf(name)}: ${literal(table[name]!, 2, keyOf(name).length + 2)},`);
  const aliases = names
    .filter((name) => first.get(table[name]!) !== name)
    .map((name) => `  ${keyOf(name)}: '${first.get(table[name]!)}',`);
  const header = [
    `// Generated by scripts/prices.ts from ${PACKAGE} ${version} (OpenAI's models): do not edit.`,
    '/**',
    ' * Built-in prices in USD per 1M tokens: main, cached input, cache writes, long-context',
    ' * rates, and batch (half of main; flex is billed at batch). Regenerate after upgrading',
    ` * ${PACKAGE}: \`node scripts/prices.ts\`. The \`prices\` option adds or overrides models.`,
    ' */',
    "import type { ModelPrice } from './pricing.ts';",
    '',
    '/** The package and version the table was generated from. */',
    `export const PRICES_SOURCE = '${PACKAGE}@${version}';`,
    '',
    'const MODELS = {',
  ];
  const body = [
    ...header,
    ...models,
    '} satisfies Record<string, ModelPrice>;',
    '',
    '/** The other exact names genai-prices gives a model (dated snapshots, spellings). */',
    'const ALIASES: Readonly<Record<string, keyof typeof MODELS>> = {',
    ...aliases,
    '};',
    '',
    'export const BUILT_IN_PRICES: Readonly<Record<string, ModelPrice>> = {',
    '  ...MODELS,',
    '  ...Object.fromEntries(Object.entries(ALIASES).map(([alias, model]) => [alias, MODELS[model]])),',
    '};',
    '',
  ]
    .join('\n')
    .split('\n');
  // The house rule: a file over 300 lines says why on its first line.
  if (body.length > 300) body[0] = body[0]!.replace('// Generated', '// size: generated');
  return body.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { version, models } = sourceModels();
  const table = derive(models);
  const text = render(version, table);
  if (process.argv.includes('--check')) {
    if (readFileSync(OUT, 'utf8') !== text) {
      console.error(`${OUT} is out of date: run node scripts/prices.ts`);
      process.exit(1);
    }
  } else {
    writeFileSync(OUT, text);
    console.log(`wrote ${OUT} (${Object.keys(table).length} names, ${PACKAGE} ${version})`);
  }
}
