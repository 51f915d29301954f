/**
 * What `retryscope/register` does, ES module and CommonJS alike: read the
 * RETRYSCOPE_* variables, hook `openai` with a RetryscopeInstrumentation, and
 * before the first client is made, start the OpenTelemetry SDK from the OTEL_*
 * variables unless the app already registered one.
 *
 * Nothing here may break the app: a variable it cannot honour, a missing
 * optional peer or an SDK that fails to start is one warning, and the app runs
 * as it would without register (uninstrumented; or, for the SDK, with the
 * clients instrumented and spans going wherever the global provider sends them).
 */
import { ProxyTracerProvider, trace } from '@opentelemetry/api';
import { RetryscopeInstrumentation } from '../instrumentation.ts';
import { zeroCodeWarning } from '../openai/auto.ts';
import type { RetryscopeOptions } from '../options.ts';
import { loadSetup } from '../telemetry/load-setup.ts';
import { type StartSdk, type ZeroCodeSettings, zeroCodeSettings } from './env-options.ts';

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Starts zero-code instrumentation; returns the instrumentation, or undefined when it runs uninstrumented. */
export function startZeroCode(env: Record<string, string | undefined> = process.env) {
  let settings: ZeroCodeSettings;
  try {
    settings = zeroCodeSettings(env);
  } catch (error) {
    zeroCodeWarning(`${message(error)}; running uninstrumented`);
    return undefined;
  }
  if (settings.disabled) return undefined;
  try {
    return new ZeroCodeInstrumentation(settings.options, settings.startSdk);
  } catch (error) {
    zeroCodeWarning(`${message(error)}; running uninstrumented`);
    return undefined;
  }
}

class ZeroCodeInstrumentation extends RetryscopeInstrumentation {
  #startSdk: StartSdk | 'done';

  constructor(options: RetryscopeOptions, startSdk: StartSdk) {
    super(options);
    this.#startSdk = startSdk;
  }

  // The first client is the last moment the app can have set up its own SDK before spans are made.
  protected override clientOptions(): RetryscopeOptions | undefined {
    if (this.#startSdk !== 'done') {
      const start = this.#startSdk === true || (this.#startSdk === 'auto' && !hasTracerProvider());
      this.#startSdk = 'done';
      if (start) startSdk();
    }
    return super.clientOptions();
  }
}

/**
 * Whether a tracer provider is registered. The global is a ProxyTracerProvider (of whichever copy
 * of the API registered it) delegating to the real one, else the API's no-op provider. No probe
 * span: on the app's provider it would be exported.
 */
function hasTracerProvider(): boolean {
  const global = trace.getTracerProvider() as { getDelegate?: () => unknown };
  const delegate = typeof global.getDelegate === 'function' ? global.getDelegate() : global;
  return delegate !== new ProxyTracerProvider().getDelegate();
}

function startSdk(): void {
  try {
    const telemetry = loadSetup().startTelemetry();
    // An app that simply ends (no signal) still gets its last spans exported.
    process.once('beforeExit', () => void telemetry.shutdown());
  } catch (error) {
    zeroCodeWarning(`the OpenTelemetry SDK was not started (${message(error)})`);
  }
}
