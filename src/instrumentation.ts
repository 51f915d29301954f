/**
 * `retryscope/instrumentation`: an OpenTelemetry JS instrumentation for apps
 * that configure the SDK in code, `new NodeSDK({ instrumentations: [new RetryscopeInstrumentation()] })`.
 * It hooks the `openai` module (require-in-the-middle for CommonJS,
 * import-in-the-middle for ES modules, through `@opentelemetry/instrumentation`)
 * so every client the app constructs is instrumented with this config.
 *
 * `@opentelemetry/instrumentation` is an optional peer. It is loaded with a
 * synchronous require, so this module always loads, and constructing the class
 * without it throws one line with the command that installs it.
 */
import { createRequire } from 'node:module';
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type * as Otel from '@opentelemetry/instrumentation';
import { type AutoHooks, patchOpenAIExports, unpatchOpenAIExports } from './openai/auto.ts';
import { INSTRUMENTATION_PEERS, MissingPeerError, missingPeer } from './optional-peers.ts';
import { type RetryscopeOptions, resolveOptions } from './options.ts';
import { VERSION } from './version.ts';

/** The `openai` versions the patch is for: retryscope's peer range. */
export const SUPPORTED_OPENAI = ['>=7.12.1 <8'];

/** instrument()'s options, plus `enabled` (OpenTelemetry's). Checked like instrument()'s, at construction and in setConfig(). */
export type RetryscopeInstrumentationConfig = Otel.InstrumentationConfig & RetryscopeOptions;

function loadPeer(): typeof Otel | MissingPeerError {
  try {
    return createRequire(import.meta.url)('@opentelemetry/instrumentation') as typeof Otel;
  } catch (error) {
    const missing = missingPeer(error, INSTRUMENTATION_PEERS);
    if (!missing) throw error;
    return new MissingPeerError(
      'retryscope/instrumentation needs @opentelemetry/instrumentation',
      missing,
      INSTRUMENTATION_PEERS,
    );
  }
}

const peer = loadPeer();
// Without the peer the class still exists (so importing never fails); constructing it throws the one line.
const Base: typeof Otel.InstrumentationBase =
  peer instanceof Error
    ? (class {
        constructor() {
          throw peer;
        }
      } as unknown as typeof Otel.InstrumentationBase)
    : peer.InstrumentationBase;

function checked(config: RetryscopeInstrumentationConfig): RetryscopeInstrumentationConfig {
  const { enabled: _, ...options } = config ?? {};
  resolveOptions(options);
  return config;
}

export class RetryscopeInstrumentation extends Base<RetryscopeInstrumentationConfig> {
  #tracerProvider: TracerProvider | undefined;
  #meterProvider: MeterProvider | undefined;

  /** Throws RetryscopeConfigError for a config instrument() would reject (the base constructor calls setConfig). */
  constructor(config: RetryscopeInstrumentationConfig = {}) {
    super('retryscope', VERSION, config);
  }

  override setConfig(config: RetryscopeInstrumentationConfig = {}): void {
    super.setConfig(checked(config));
  }

  // The SDK hands its providers over here (registerInstrumentations); a provider in the config wins.
  override setTracerProvider(provider: TracerProvider): void {
    super.setTracerProvider(provider);
    this.#tracerProvider = provider;
  }

  override setMeterProvider(provider: MeterProvider): void {
    super.setMeterProvider(provider);
    this.#meterProvider = provider;
  }

  protected init() {
    const { InstrumentationNodeModuleDefinition } = peer as typeof Otel;
    const hooks: AutoHooks = { options: () => this.clientOptions() };
    return new InstrumentationNodeModuleDefinition(
      'openai',
      SUPPORTED_OPENAI,
      (exports: object) => patchOpenAIExports(exports, hooks),
      (exports: object) => unpatchOpenAIExports(exports),
    );
  }

  /** The instrument() options for a client constructed now; `undefined` while disabled. */
  protected clientOptions(): RetryscopeOptions | undefined {
    if (!this.isEnabled()) return undefined;
    const { enabled: _, ...options } = this.getConfig();
    return {
      ...(this.#tracerProvider ? { tracerProvider: this.#tracerProvider } : {}),
      ...(this.#meterProvider ? { meterProvider: this.#meterProvider } : {}),
      ...options,
    };
  }
}
