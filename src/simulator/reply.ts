/**
 * The canned reply. Each piece is one token and one stream chunk, which
 * keeps usage arithmetic exact: a test can say "quota runs out after three
 * chunks" and mean it.
 */
export const REPLY_PIECES: readonly string[] = [
  'This',
  ' is',
  ' a',
  ' simulated',
  ' reply',
  ' from',
  ' retryscope.',
];

export interface Reply {
  pieces: string[];
  text: string;
  /** The output budget cut the reply short (`finish_reason: 'length'`). */
  truncated: boolean;
}

export function replyFor(maxOutputTokens: number): Reply {
  const pieces = REPLY_PIECES.slice(0, Math.max(0, maxOutputTokens));
  return { pieces, text: pieces.join(''), truncated: pieces.length < REPLY_PIECES.length };
}
