/**
 * Which fault, if any, a request meets. Chance comes from rolls drawn from
 * the seeded PRNG when the request *arrives* (one per fault slot), so the
 * same seed and the same request order replay the same faults even when
 * bodies finish arriving in a different order.
 */
import type { FaultKind, FaultSpec, RouteId } from './types.ts';

/** Faults that mimic a gateway refusing the request before it is admitted. */
const PRE_ADMISSION: ReadonlySet<FaultKind> = new Set(['401', '400', 'too_large', '429']);

/** Faults inside a 200: a Responses result that reports its own failure. */
export const IN_BAND_KINDS: ReadonlySet<FaultKind> = new Set(['response_failed', 'response_incomplete']);

export function isPreAdmission(kind: FaultKind): boolean {
  return PRE_ADMISSION.has(kind);
}

export interface FaultRequest {
  route: RouteId;
  model: string | undefined;
  stream: boolean;
}

interface Counter {
  seen: number;
  burstLeft: number;
}

/** Per-phase-visit counters for `every` and `burst`; a new visit starts afresh. */
export class FaultCounters {
  #visit = -1;
  #counters: Counter[] = [];

  for(visit: number, index: number): Counter {
    if (visit !== this.#visit) {
      this.#visit = visit;
      this.#counters = [];
    }
    let counter = this.#counters[index];
    if (!counter) {
      counter = { seen: 0, burstLeft: 0 };
      this.#counters[index] = counter;
    }
    return counter;
  }
}

export function isEligible(fault: FaultSpec, request: FaultRequest): boolean {
  if (fault.routes && !fault.routes.includes(request.route)) return false;
  if (fault.models && (request.model === undefined || !fault.models.includes(request.model))) return false;
  // Only a stream has chunks to break off after.
  if (fault.kind === 'stream_error' && !request.stream) return false;
  // Only a Responses result has a status to fail in.
  if (IN_BAND_KINDS.has(fault.kind) && request.route !== 'responses') return false;
  return true;
}

/**
 * Picks the first fault that strikes. Every eligible fault counts the
 * request (so `every: 10` means every tenth eligible request, whatever the
 * others did), but only the winner starts or continues its burst.
 */
export function pickFault(
  faults: readonly FaultSpec[],
  rolls: readonly number[],
  request: FaultRequest,
  counters: FaultCounters,
  visit: number,
): FaultSpec | undefined {
  let winner: { fault: FaultSpec; counter: Counter } | undefined;
  faults.forEach((fault, index) => {
    if (!isEligible(fault, request)) return;
    const counter = counters.for(visit, index);
    counter.seen += 1;
    const strikes =
      counter.burstLeft > 0 ||
      (fault.every !== undefined && counter.seen % fault.every === 0) ||
      (fault.probability !== undefined && (rolls[index] ?? 1) < fault.probability);
    if (strikes && !winner) winner = { fault, counter };
  });
  if (!winner) return undefined;
  const { fault, counter } = winner;
  if (counter.burstLeft > 0) counter.burstLeft -= 1;
  else counter.burstLeft = Math.max(0, (fault.burst ?? 1) - 1);
  return fault;
}
