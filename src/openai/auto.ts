/**
 * Zero-code instrumentation: the `openai` module's client classes, patched so
 * that every client the app constructs comes back instrumented. Each class is
 * replaced by a construct-Proxy of itself, not a subclass, so `instanceof`,
 * static members (`OpenAI.APIError`) and the app's own subclasses keep working,
 * and `AzureOpenAI` (which extends the unpatched `OpenAI` inside the SDK) is
 * patched on its own. Used by RetryscopeInstrumentation (src/instrumentation.ts).
 *
 * This file loads nothing of `openai`: the rest (auto-core.ts) is required when the
 * first client is constructed. In an ES module app an `openai` imported before
 * import-in-the-middle's loader is registered cannot be hooked, so importing
 * `retryscope/instrumentation` must not import it; and at patch time `openai` is
 * still evaluating, so loading it then would be a require cycle.
 */
import { createRequire } from 'node:module';
import { types } from 'node:util';
import type { RetryscopeOptions } from '../options.ts';

type Core = typeof import('./auto-core.ts');
let core: Core | undefined;

function loadCore(): Core {
  // Synchronous, as `new` is: the ES module build requires its ES module sibling (Node loads ES modules by require since 20.19).
  const file = import.meta.url.endsWith('.ts') ? './auto-core.ts' : './auto-core.js';
  core ??= createRequire(import.meta.url)(file) as Core;
  return core;
}

/** The exports of `openai` that construct a client (`default` is `OpenAI`). */
const CLASSES = ['default', 'OpenAI', 'AzureOpenAI'] as const;

export interface AutoHooks {
  /** The options for a client being made now; `undefined` leaves it raw (the instrumentation is disabled). */
  options(): RetryscopeOptions | undefined;
}

type Exports = Record<string, unknown>;
type Constructor = new (...args: unknown[]) => object;

// instrument() makes clients itself (a retries-off clone, via the client's constructor): those stay raw.
let constructing = false;

function construct(
  hooks: AutoHooks,
  copy: unknown,
  target: Constructor,
  args: unknown[],
  newTarget: Constructor,
): object {
  const client = Reflect.construct(target, args, newTarget);
  if (constructing) return client;
  constructing = true;
  try {
    const { instrumentConstructed, isInstrumented, OWN_API_ERROR } = loadCore();
    if (isInstrumented(client)) return client;
    // The other copy of openai (CommonJS in an ES module build of retryscope, or the reverse): retryscope's
    // `instanceof` checks would miss its errors and its 429s would go unretried, so its clients stay the SDK's.
    if (copy !== OWN_API_ERROR) {
      zeroCodeWarning(
        'an openai of the other module format (CommonJS/ES module) was loaded; its clients are left uninstrumented ' +
          '(start the app with --require retryscope/register for CommonJS, --import for ES modules)',
      );
      return client;
    }
    const options = hooks.options();
    return options ? instrumentConstructed(client as never, options) : client;
  } catch (error) {
    // Zero-code never changes what the app gets: a client that cannot be instrumented stays the SDK's.
    zeroCodeWarning(`a new client is left uninstrumented (${(error as Error)?.message ?? error})`);
    return client;
  } finally {
    constructing = false;
  }
}

const warned = new Set<string>();

/** One process warning per distinct message: zero-code reports, it never throws into the app. */
export function zeroCodeWarning(text: string): void {
  if (warned.has(text)) return;
  warned.add(text);
  process.emitWarning(`retryscope: ${text.replace(/^retryscope: /, '')}`, { code: 'RETRYSCOPE_ZERO_CODE' });
}

/** A class whose `new` returns an instrumented client; everything else goes to the class itself. */
function autoClass(hooks: AutoHooks, copy: unknown, cls: Constructor): Constructor {
  const proxy: Constructor = new Proxy(cls, {
    construct: (target, args, newTarget) =>
      construct(hooks, copy, target, args, newTarget === proxy ? target : (newTarget as Constructor)),
  });
  return proxy;
}

const originals = new WeakMap<object, Exports>();

/**
 * Patches the `openai` module's exports. An ES module namespace (import-in-the-middle's
 * proxy) takes the patched classes in place; a CommonJS `module.exports` has
 * non-configurable getters, so a Proxy of it is returned for require-in-the-middle
 * to hand out instead (it is also constructible, as `new (require('openai'))()` is).
 */
export function patchOpenAIExports<T extends object>(exports: T, hooks: AutoHooks): T {
  const source = exports as Exports;
  const saved: Exports = {};
  const patched: Exports = {};
  // `default` and `OpenAI` are one class, so they stay one (patched) class.
  const byClass = new Map<unknown, Constructor>();
  for (const name of CLASSES) {
    const cls = source[name];
    if (typeof cls !== 'function') continue;
    saved[name] = cls;
    if (!byClass.has(cls)) byClass.set(cls, autoClass(hooks, source.APIError, cls as Constructor));
    patched[name] = byClass.get(cls);
  }
  originals.set(exports, saved);
  if (isNamespace(exports)) {
    Object.assign(exports, patched);
    return exports;
  }
  const target = exports as unknown as Constructor;
  const proxy = new Proxy(target, {
    get: (t, key, receiver) =>
      typeof key === 'string' && Object.hasOwn(patched, key) ? patched[key] : Reflect.get(t, key, receiver),
    ...(typeof exports === 'function'
      ? { construct: (t: Constructor, args: unknown[]) => construct(hooks, source.APIError, t, args, t) }
      : {}),
  });
  ours.add(proxy);
  return proxy as unknown as T;
}

// The CommonJS Proxies handed out; a second instrumentation (register beside the app's own) gets one to patch.
const ours = new WeakSet<object>();

/** import-in-the-middle's namespace (a Proxy that takes assignments), not one of ours. */
function isNamespace(exports: object): boolean {
  return types.isProxy(exports) && !ours.has(exports);
}

/** Puts the original classes back where the namespace allows it; a CommonJS Proxy already handed out passes clients through while disabled. */
export function unpatchOpenAIExports(exports: object): void {
  const saved = originals.get(exports);
  if (saved && isNamespace(exports)) Object.assign(exports, saved);
}
