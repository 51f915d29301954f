// size: one algorithm (cheap bounds, sliced scans, chunked counting) whose parts share its invariants; the header comment is its proof.
/**
 * Decides whether texts fit a token budget, as cheaply as it can, without
 * ever blocking the event loop for long.
 *
 * Token counts are o200k_base's, the encoding of gpt-4o and every newer
 * model. For older models (cl100k_base) the count is an estimate, usually a
 * little low, which errs on the side of letting a request through.
 * Special-token strings such as `<|endoftext|>` count as the plain text they
 * are, as the API treats them in user content.
 *
 * Cheap bounds decide first, and the tokenizer runs only when they cannot:
 *
 * - at most one token per UTF-8 byte: tokens partition the bytes, and each
 *   token is at least one byte. A UTF-16 unit is at most 3 bytes (a pair of
 *   surrogates is 4 bytes for 2 units), so at most 3 tokens per unit.
 * - at least one token per MAX_TOKEN_BYTES bytes: the longest token in
 *   o200k_base and in cl100k_base is 128 bytes (a run of spaces), and a unit
 *   is at least a byte, so at least one token per 128 units.
 * - at least one token per pre-tokenizer piece: BPE never merges across the
 *   pieces o200k's split pattern cuts the text into, and `isPieceStart` finds
 *   only places where a piece surely starts, so it counts no more pieces
 *   than there are. For prose that is about one piece per word, close to
 *   the token count itself.
 *
 * The lower bounds are lower bounds of the o200k count, so a request they
 * refuse is one the count would have refused too: never more refusals than
 * counting. When counting is needed and gpt-tokenizer (an optional peer
 * dependency) is not installed, nothing is refused: the API decides.
 *
 * All work over the text (the scan for bytes and pieces, the counting) is
 * done in slices of at most SLICE_UNITS UTF-16 units, with a turn of the
 * event loop between slices, so that a 20 MB prompt stalls other calls in
 * the process no longer than a short one.
 */

/** Counts the tokens of `text` as plain text. */
export type CountTokens = (text: string) => number;

/** How counting gets its tokenizer and gives the event loop its turns; injected in tests. */
export interface TokenCounting {
  /** The tokenizer, or `undefined` when it is not installed. */
  load(): Promise<CountTokens | undefined>;
  /** Called between slices with the UTF-16 units processed since the previous call. */
  pause(units: number): Promise<void>;
}

/** A token count over the budget: exact, or a lower bound (`atLeast`) when that sufficed. */
export interface TokensOver {
  tokens: number;
  atLeast: boolean;
}

/** The most UTF-16 units processed between two turns of the event loop. */
export const SLICE_UNITS = 16_384;
/** The longest token of o200k_base and cl100k_base, in bytes. */
export const MAX_TOKEN_BYTES = 128;

export const DEFAULT_COUNTING: TokenCounting = {
  load: loadTokenizer,
  pause: () => new Promise((resolve) => setImmediate(resolve)),
};

/**
 * The tokens of `texts` when they surely or probably exceed `budget`;
 * `undefined` when they fit, or when only a tokenizer that is not installed
 * could tell.
 */
export async function tokensOver(
  texts: readonly string[],
  budget: number,
  counting: TokenCounting = DEFAULT_COUNTING,
): Promise<TokensOver | undefined> {
  let units = 0;
  for (const text of texts) units += text.length;
  if (units * 3 <= budget) return undefined;
  const fewest = Math.ceil(units / MAX_TOKEN_BYTES);
  if (fewest > budget) return { tokens: fewest, atLeast: true };

  const slicer = new Slicer(counting);
  let totalBytes = 0;
  let pieces = 0;
  for (const text of texts) {
    for (let start = 0; start < text.length; ) {
      const end = Math.min(text.length, start + (await slicer.room()));
      totalBytes += utf8Bytes(text, start, end);
      pieces += countPieceStarts(text, start, end);
      slicer.spend(end - start);
      start = end;
      const lowest = Math.max(pieces, Math.ceil(totalBytes / MAX_TOKEN_BYTES));
      if (lowest > budget) return { tokens: lowest, atLeast: true };
    }
  }
  if (totalBytes <= budget) return undefined;

  const count = await counting.load();
  if (!count) return undefined;
  // Stop as soon as the rest cannot change the answer.
  let unseenBytes = totalBytes;
  // A chunk cut inside a piece can count more than the whole piece would:
  // refuse only what is over even without what the cuts may have added.
  let lowest = 0;
  const tokens = await countSliced(texts, count, slicer, (tokens, chunk, hardCuts) => {
    unseenBytes -= chunk;
    lowest = tokens - HARD_CUT_SLACK * hardCuts;
    return lowest > budget || tokens + unseenBytes <= budget;
  });
  if (lowest <= budget) return undefined;
  return { tokens: lowest, atLeast: unseenBytes > 0 || lowest < tokens };
}

/** Counts every token of `text`, in slices; `undefined` without a tokenizer. */
export async function estimateTokens(
  text: string,
  counting: TokenCounting = DEFAULT_COUNTING,
): Promise<number | undefined> {
  const count = await counting.load();
  return count && countSliced([text], count, new Slicer(counting), () => false);
}

/**
 * Counts `texts` in chunks cut where a piece starts anyway (see `chunkEnd`),
 * none longer than the room left in the slice. `stop` sees the running count
 * and each chunk's UTF-8 bytes, and ends the count early by returning true.
 */
async function countSliced(
  texts: readonly string[],
  count: CountTokens,
  slicer: Slicer,
  stop: (tokens: number, chunkBytes: number, hardCuts: number) => boolean,
): Promise<number> {
  let tokens = 0;
  let hardCuts = 0;
  for (const text of texts) {
    for (let start = 0; start < text.length; ) {
      const end = chunkEnd(text, start, Math.min(await slicer.room(), MAX_CHUNK));
      tokens += count(start === 0 && end === text.length ? text : text.slice(start, end));
      slicer.spend(end - start);
      if (end < text.length && !isPieceStart(text, end)) hardCuts++;
      if (stop(tokens, utf8Bytes(text, start, end), hardCuts)) return tokens;
      start = end;
    }
  }
  return tokens;
}

/** Hands out room in the current slice, and pauses when it is used up. */
class Slicer {
  private used = 0;
  private readonly counting: TokenCounting;
  constructor(counting: TokenCounting) {
    this.counting = counting;
  }
  /** The units that may still be processed before the next pause: at least MAX_CHUNK. */
  async room(): Promise<number> {
    if (SLICE_UNITS - this.used < MAX_CHUNK) {
      await this.counting.pause(this.used);
      this.used = 0;
    }
    return SLICE_UNITS - this.used;
  }
  spend(units: number): void {
    this.used += units;
  }
}

/**
 * The UTF-8 length of `text`: an upper bound on its token count, since every
 * token is at least one byte. (Not the UTF-16 length: one unit of CJK or of a
 * symbol is three bytes and can be up to three tokens.)
 */
export function utf8Length(text: string): number {
  return utf8Bytes(text, 0, text.length);
}

// Each unit on its own, so a range can end anywhere: a surrogate pair is 2 + 2
// bytes, a lone surrogate 3 (sent as U+FFFD).
function utf8Bytes(text: string, from: number, to: number): number {
  let bytes = to - from;
  for (let i = from; i < to; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (isHighSurrogate(unit)) bytes += isLowSurrogate(text.charCodeAt(i + 1)) ? 1 : 2;
    else if (isLowSurrogate(unit)) bytes += isHighSurrogate(text.charCodeAt(i - 1)) ? 1 : 2;
    else bytes += 2;
  }
  return bytes;
}

// The pieces starting in [from, to): the first unit of a text starts one.
function countPieceStarts(text: string, from: number, to: number): number {
  let pieces = from === 0 && to > 0 ? 1 : 0;
  for (let i = Math.max(from, 1); i < to; i++) if (isPieceStart(text, i)) pieces++;
  return pieces;
}

const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

let loading: Promise<CountTokens | undefined> | undefined;

// Loaded on first need, not at start-up: the ranks cost ~60 MB, and most
// processes only ever send prompts the bounds decide. Loading them is one
// synchronous stall (~100-200 ms) per process; an app can move it to its own
// start-up by importing 'gpt-tokenizer/encoding/o200k_base' there.
function loadTokenizer(): Promise<CountTokens | undefined> {
  loading ??= import('gpt-tokenizer/encoding/o200k_base').then(
    ({ countTokens }) =>
      (text: string) =>
        countTokens(text, AS_PLAIN_TEXT),
    () => undefined,
  );
  return loading;
}

// BPE merging is quadratic in the length of one pre-token piece: a 100k-char
// run of 'a' or of CJK takes seconds as one piece. So text is counted in
// chunks cut where the o200k pre-tokenizer starts a new piece anyway, which
// keeps the count exact, and a stretch with no such place for MAX_PIECE units
// (a long run of one letter class or of one symbol) is cut wherever it
// reaches that length, about a token off per cut.
const MAX_CHUNK = 4096;
const MAX_PIECE = 64;
/** Tokens one cut inside a piece may add (measured ~0.7 on 64-unit cuts of 'abcdefghij'…). */
const HARD_CUT_SLACK = 2;

function chunkEnd(text: string, start: number, max: number): number {
  const limit = Math.min(text.length, start + max);
  let lastCut = -1;
  let sinceCut = 0;
  for (let i = start + 1; i < limit; i++) {
    if (isPieceStart(text, i)) {
      lastCut = i;
      sinceCut = 0;
    } else if (++sinceCut >= MAX_PIECE) return lastCut !== -1 ? lastCut : hardCut(text, i);
  }
  if (limit === text.length) return limit;
  return lastCut !== -1 ? lastCut : hardCut(text, limit);
}

// Never split a surrogate pair, which would count as two U+FFFDs.
function hardCut(text: string, i: number): number {
  return isLowSurrogate(text.charCodeAt(i)) ? i + 1 : i;
}

/**
 * Whether o200k's split pattern surely starts a piece at `i`, whatever
 * follows. The pattern has no look-behind, so a piece starting at `i` is
 * matched alike in the whole text and in a chunk starting there.
 */
function isPieceStart(text: string, i: number): boolean {
  const x = text.charCodeAt(i);
  if (isLowSurrogate(x)) return false;
  const at = classAt(text, i);
  // The last blank of a run before a non-blank leads the next word or stands
  // alone (`\s+(?!\S)` leaves it). Newlines end runs of their own: see below.
  if (at === WHITESPACE) return !isNewline(x) && classAt(text, i + 1) !== WHITESPACE;
  const pair = isLowSurrogate(text.charCodeAt(i - 1)) && isHighSurrogate(text.charCodeAt(i - 2));
  const before = classAt(text, pair ? i - 2 : i - 1);
  // After newlines a piece starts, unless a '/' joins a punctuation piece (`[\r\n/]*`);
  // after any other blank, that blank may lead this word.
  if (before === WHITESPACE) return isNewline(text.charCodeAt(i - 1)) && x !== 0x2f;
  if (before === DIGIT) return at !== DIGIT; // digits group only with digits
  if (at === DIGIT) return true;
  // A letter piece ends at the first non-letter, unless an apostrophe starts a contraction.
  return before === LETTER && at === OTHER && x !== 0x27;
}

function isNewline(unit: number): boolean {
  return unit === 0x0a || unit === 0x0d;
}

const WHITESPACE = 0;
const DIGIT = 1;
const LETTER = 2;
const MARK = 3; // continues a letter piece or a symbol piece alike: never a safe cut
const OTHER = 4;

const CHAR_CLASS = /(\s)|(\p{N})|(\p{L})|(\p{M})/u;
// The class of each BMP unit, looked up once: the regex costs a microsecond a
// character, which for long non-Latin prompts was most of the scan. 64 KB.
const UNKNOWN = 0xff;
const BMP_CLASS = new Uint8Array(0x10000).fill(UNKNOWN);

function classAt(text: string, i: number): number {
  const unit = text.charCodeAt(i);
  if (Number.isNaN(unit)) return WHITESPACE; // outside the text: like an edge, never a safe cut
  if (isHighSurrogate(unit) && isLowSurrogate(text.charCodeAt(i + 1)))
    return classOf(String.fromCodePoint(text.codePointAt(i)!));
  let c = BMP_CLASS[unit]!;
  if (c === UNKNOWN) c = BMP_CLASS[unit] = classOf(String.fromCharCode(unit));
  return c;
}

function classOf(char: string): number {
  const m = CHAR_CLASS.exec(char);
  if (!m) return OTHER;
  return m[1] ? WHITESPACE : m[2] ? DIGIT : m[3] ? LETTER : MARK;
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}
