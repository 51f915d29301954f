/**
 * `node --require retryscope/register app.cjs`: zero-code instrumentation for a
 * CommonJS app (src/zero-code/start.ts says what it does). require-in-the-middle
 * hooks `require('openai')`, so it works even though this file loaded openai first.
 */
import { startZeroCode } from './zero-code/start.ts';

startZeroCode();
