/**
 * Loads setup.ts (the OpenTelemetry SDK side of retryscope/telemetry) with a
 * synchronous require, so that a missing optional peer becomes one line with
 * the install command instead of Node's resolution error for whichever package
 * came first. Shared by retryscope/telemetry (which throws it) and
 * retryscope/register (which warns and goes on without starting an SDK).
 */
import { createRequire } from 'node:module';
import { MissingPeerError, missingPeer, TELEMETRY_PEERS } from '../optional-peers.ts';

export type Setup = typeof import('./setup.ts');

export function loadSetup(): Setup {
  // Run from the sources (`--conditions=retryscope-source`) or from dist/.
  const file = import.meta.url.endsWith('.ts') ? './setup.ts' : './setup.js';
  try {
    return createRequire(import.meta.url)(file) as Setup;
  } catch (error) {
    const missing = missingPeer(error, TELEMETRY_PEERS);
    if (!missing) throw error;
    throw new MissingPeerError('retryscope/telemetry needs the OpenTelemetry SDK', missing, TELEMETRY_PEERS);
  }
}
