/**
 * `node --import retryscope/register app.js`: zero-code instrumentation for an
 * ES module app (src/zero-code/start.ts says what it does). ES modules are
 * hooked by import-in-the-middle's loader, which must be registered before
 * `openai` is first imported. The rest is imported after register() (and not
 * at all when disabled or the peer is missing), with top-level await so the app
 * starts only once the hook is in place. CommonJS apps use `--require` (register-cjs.ts).
 */
import { register } from 'node:module';
import { INSTRUMENTATION_PEERS, installLine } from './optional-peers.ts';
import { zeroCodeSettings } from './zero-code/env-options.ts';

/** RETRYSCOPE_DISABLED: not even the loader. A variable it cannot read is start.ts's to report. */
function disabled(): boolean {
  try {
    return zeroCodeSettings().disabled;
  } catch {
    return false;
  }
}

let hooked = false;
if (!disabled())
  try {
    // Only `openai` goes through the loader: every other module loads as it would without register.
    register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: ['openai'] } });
    hooked = true;
  } catch {
    process.emitWarning(
      `retryscope: retryscope/register needs @opentelemetry/instrumentation (${installLine(INSTRUMENTATION_PEERS)}); running uninstrumented`,
      { code: 'RETRYSCOPE_ZERO_CODE' },
    );
  }
if (hooked) (await import('./zero-code/start.ts')).startZeroCode();
