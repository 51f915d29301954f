import { createRequire } from 'node:module';

type CountTokens = typeof import('gpt-tokenizer/encoding/o200k_base').countTokens;

/**
 * Counts the tokens of `text` in o200k_base, the encoding of gpt-4o and every
 * newer model. For older models (cl100k_base) it is an estimate, usually a
 * little low, which errs on the side of letting a request through.
 *
 * Special-token strings such as `<|endoftext|>` count as the plain text they
 * are, as the API treats them in user content, instead of throwing.
 */
export function estimateTokens(text: string): number {
  if (text.length === 0) return 0;
  const count = tokenizer();
  let total = 0;
  for (let start = 0; start < text.length; ) {
    const end = chunkEnd(text, start);
    total += count(start === 0 && end === text.length ? text : text.slice(start, end), AS_PLAIN_TEXT);
    start = end;
  }
  return total;
}

/**
 * The UTF-8 length of `text`: an upper bound on its token count, since every
 * token is at least one byte. (Not the UTF-16 length: one unit of CJK or of a
 * symbol is three bytes and can be up to three tokens.)
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (isHighSurrogate(unit) && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 2; // a pair: 4 bytes for 2 units
      i++;
    } else bytes += 2; // 3 bytes, lone surrogates included (sent as U+FFFD)
  }
  return bytes;
}

const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

let countTokens: CountTokens | undefined;

// Loaded on first use, synchronously: the ranks cost ~110 ms and ~60 MB, and
// most processes only ever send prompts short enough never to need them.
function tokenizer(): CountTokens {
  countTokens ??= (
    createRequire(import.meta.url)('gpt-tokenizer/encoding/o200k_base') as { countTokens: CountTokens }
  ).countTokens;
  return countTokens;
}

// BPE merging is quadratic in the length of one pre-token piece: a 100k-char
// run of 'a' or of CJK takes seconds as one piece. So text is counted in
// chunks cut where the o200k pre-tokenizer starts a new piece anyway, which
// keeps the count exact, and a stretch with no such place for MAX_PIECE units
// (a long run of one letter class or of one symbol) is cut wherever it
// reaches that length, about a token off per cut.
const MAX_CHUNK = 4096;
const MAX_PIECE = 64;

function chunkEnd(text: string, start: number): number {
  const limit = Math.min(text.length, start + MAX_CHUNK);
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
const ASCII_CLASS = Uint8Array.from({ length: 128 }, (_, c) => classOf(String.fromCharCode(c)));

function classAt(text: string, i: number): number {
  const unit = text.charCodeAt(i);
  if (unit < 0x80) return ASCII_CLASS[unit]!;
  if (Number.isNaN(unit)) return WHITESPACE; // outside the text: like an edge, never a safe cut
  return classOf(String.fromCodePoint(text.codePointAt(i)!));
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
