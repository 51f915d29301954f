/**
 * What the zero-code patch needs of the rest of retryscope, loaded by auto.ts
 * when the first client is constructed: it imports `openai`, which must not be
 * loaded earlier (see auto.ts).
 */
import OpenAI from 'openai';

export { instrumentConstructed, isInstrumented } from './instrument.ts';

/** The `APIError` of the openai copy retryscope's `instanceof` checks use. */
export const OWN_API_ERROR: unknown = OpenAI.APIError;
