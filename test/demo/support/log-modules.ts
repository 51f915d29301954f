/**
 * Preloaded with `--import`: records every module the process resolves and,
 * at exit, writes the list to the file named by RETRYSCOPE_MODULE_LOG. Tests
 * use it to prove that `--help` loads no OpenTelemetry SDK or exporter.
 */
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const loaded = new Set<string>();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    loaded.add(result.url);
    return result;
  },
});
process.on('exit', () => {
  const target = process.env.RETRYSCOPE_MODULE_LOG;
  if (target) writeFileSync(target, JSON.stringify([...loaded]));
});
