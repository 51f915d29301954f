/**
 * Context windows in tokens (prompt and completion together; for embedding
 * models, the limit of one input), from OpenAI's model pages as mirrored by
 * gpt-tokenizer 4.0's model specs.
 *
 * A dated snapshot or variant (`gpt-4o-mini-2024-07-18`, `o3-pro`) uses its
 * longest listed prefix ending at a '-', so an entry must not be smaller than
 * any model named after it: that would refuse requests the API accepts. This
 * is why `gpt-4` (8k, but `gpt-4-32k`, `gpt-4-1106-preview`…) is absent.
 * A larger window only lets an oversized request through to the API's own 400.
 *
 * Users pass their own table, merged over this one; a value of `Infinity`
 * switches the check off for that model.
 */
export const CONTEXT_WINDOWS: Readonly<Record<string, number>> = Object.freeze({
  'gpt-3.5-turbo': 16_385,
  'gpt-3.5-turbo-instruct': 4_096,
  'davinci-002': 16_384,
  'babbage-002': 16_384,
  'gpt-4-turbo': 128_000,
  'gpt-4o': 128_000,
  'gpt-4o-mini': 128_000,
  'chatgpt-4o-latest': 128_000,
  'gpt-4.1': 1_047_576,
  'gpt-4.1-mini': 1_047_576,
  'gpt-4.1-nano': 1_047_576,
  'gpt-4.5-preview': 128_000,
  o1: 200_000,
  'o1-mini': 128_000,
  'o1-preview': 128_000,
  o3: 200_000,
  'o3-mini': 200_000,
  'o4-mini': 200_000,
  // gpt-5 also caps the input at 272k; the total is the looser, safe bound.
  'gpt-5': 400_000,
  'gpt-5-mini': 400_000,
  'gpt-5-nano': 400_000,
  'gpt-5-chat-latest': 128_000,
  'gpt-5.1': 400_000,
  'gpt-5.1-chat-latest': 128_000,
  'gpt-5.2': 400_000,
  'gpt-5.2-chat-latest': 128_000,
  'gpt-5.3-chat-latest': 128_000,
  'gpt-5.3-codex': 400_000,
  'gpt-5.4': 1_050_000,
  'gpt-5.4-mini': 400_000,
  'gpt-5.4-nano': 400_000,
  'gpt-5.5': 1_050_000,
  'text-embedding-3-small': 8_191,
  'text-embedding-3-large': 8_191,
  'text-embedding-ada-002': 8_191,
});

/**
 * The window of `model`: its own entry, else its longest prefix ending at a
 * '-', looked up in `overrides` first. Fine-tuned ids (`ft:gpt-4o-mini-…:org::id`)
 * use their base model. `undefined` when unknown: then nothing is refused.
 */
export function contextWindowFor(
  model: string,
  overrides?: Readonly<Record<string, number>>,
): number | undefined {
  let name = baseModel(model);
  for (;;) {
    const window = entry(overrides, name) ?? entry(CONTEXT_WINDOWS, name);
    if (window !== undefined) return window;
    const dash = name.lastIndexOf('-');
    if (dash <= 0) return undefined;
    name = name.slice(0, dash);
  }
}

// Own keys only ('constructor' is no model), and only positive numbers.
function entry(table: Readonly<Record<string, number>> | undefined, name: string): number | undefined {
  if (table == null || typeof table !== 'object' || !Object.hasOwn(table, name)) return undefined;
  const window = table[name];
  return typeof window === 'number' && window > 0 ? window : undefined;
}

function baseModel(model: string): string {
  if (!model.startsWith('ft:')) return model;
  const end = model.indexOf(':', 3);
  return end === -1 ? model.slice(3) : model.slice(3, end);
}
