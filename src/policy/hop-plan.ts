/**
 * Which hop is sent, skipped or refused, once its own request has been
 * validated. Pure: the adapter validates each hop's request (validate.ts) and
 * acts on the step; it never decides.
 */
import { isRecord } from './is-record.ts';
import type { Outcome } from './types.ts';
import type { ValidationProblem } from './validation-problem.ts';

/** What to do with one hop: send it, skip it unsent for the next, or refuse the whole call. */
export type HopStep =
  | { kind: 'send' }
  | { kind: 'skip'; problem: ValidationProblem }
  | { kind: 'refuse'; problem: ValidationProblem };

/**
 * A fallback its request cannot fit is skipped. A refused primary is skipped
 * too when the caller asked for `invalid_request` to fall back and a fallback
 * is left; otherwise the call is refused as before, nothing sent.
 */
export function hopStep(
  index: number,
  problem: ValidationProblem | undefined,
  fallbackOn: readonly Outcome[],
  hopsAfter: number,
): HopStep {
  if (!problem) return { kind: 'send' };
  if (index > 0 || (hopsAfter > 0 && fallbackOn.includes('invalid_request')))
    return { kind: 'skip', problem };
  return { kind: 'refuse', problem };
}

/** The body as a hop sends it: the fallback's own model in place of the caller's. */
export function bodyForHop(body: unknown, index: number, model: string | undefined): unknown {
  return index > 0 && model && isRecord(body) ? { ...body, model } : body;
}
