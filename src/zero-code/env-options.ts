/**
 * The RETRYSCOPE_* variables of `retryscope/register`, read in one place into
 * instrument() options and checked by the same rules (resolveOptions). An
 * error names the variable and never its value (a Redis URL holds a password).
 */
import { RetryscopeConfigError, type RetryscopeOptions, resolveOptions } from '../options.ts';

type Env = Record<string, string | undefined>;

/** Whether register starts the OpenTelemetry SDK; `auto`: only if the app has registered no tracer provider. */
export type StartSdk = 'auto' | boolean;

export interface ZeroCodeSettings {
  /** `RETRYSCOPE_DISABLED`: no hooks at all; the app runs as without register. */
  disabled: boolean;
  startSdk: StartSdk;
  options: RetryscopeOptions;
}

/** Number variables → the instrument() option each sets. */
const NUMBERS = {
  RETRYSCOPE_MAX_ATTEMPTS: 'maxAttempts',
  RETRYSCOPE_DEADLINE_MS: 'deadlineMs',
  RETRYSCOPE_MAX_RETRY_AFTER_MS: 'maxRetryAfterMs',
} as const satisfies Record<string, keyof RetryscopeOptions>;

/** On/off variables → the option each switches (a mechanism's `true` is on with its defaults). */
const SWITCHES = {
  RETRYSCOPE_CAPTURE_CONTENT: 'captureContent',
  RETRYSCOPE_VALIDATE: 'validate',
  RETRYSCOPE_LIMITER: 'limiter',
  RETRYSCOPE_RETRY_BUDGET: 'retryBudget',
  RETRYSCOPE_CIRCUIT_BREAKER: 'circuitBreaker',
} as const satisfies Record<string, keyof RetryscopeOptions>;

const REDIS = 'RETRYSCOPE_LIMITER_REDIS';

/** Every variable register reads, for the README's table (a test compares them). */
export const RETRYSCOPE_VARIABLES = [
  'RETRYSCOPE_DISABLED',
  'RETRYSCOPE_START_SDK',
  ...(Object.keys(NUMBERS) as (keyof typeof NUMBERS)[]),
  ...(Object.keys(SWITCHES) as (keyof typeof SWITCHES)[]),
  REDIS,
] as const;

const TRUE = ['1', 'true', 'on', 'yes'];
const FALSE = ['0', 'false', 'off', 'no'];

/** Reads the RETRYSCOPE_* variables; throws RetryscopeConfigError naming the first one it cannot honour. */
export function zeroCodeSettings(env: Env = process.env): ZeroCodeSettings {
  const disabled = onOff(env, 'RETRYSCOPE_DISABLED') ?? false;
  const startSdk: StartSdk =
    text(env, 'RETRYSCOPE_START_SDK')?.toLowerCase() === 'auto'
      ? 'auto'
      : (onOff(env, 'RETRYSCOPE_START_SDK', 'auto, ') ?? 'auto');
  const options: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(NUMBERS)) {
    const value = text(env, name);
    if (value === undefined) continue;
    if (!/^\d+(\.\d+)?$/.test(value)) throw envError(name, 'must be a number');
    options[option] = checkedAs(name, option, Number(value));
  }
  for (const [name, option] of Object.entries(SWITCHES)) {
    const on = onOff(env, name);
    if (on !== undefined) options[option] = checkedAs(name, option, on);
  }
  const redis = text(env, REDIS);
  if (redis !== undefined) {
    if (options.limiter === false) throw envError(REDIS, 'is set but RETRYSCOPE_LIMITER is off');
    options.limiter = checkedAs(REDIS, 'limiter', { redis });
  }
  return { disabled, startSdk, options: options as RetryscopeOptions };
}

/** `value` as option `option`, through instrument()'s own check; its error is renamed to the variable. */
function checkedAs(name: string, option: string, value: unknown): unknown {
  try {
    resolveOptions({ [option]: value });
  } catch (error) {
    if (!(error instanceof RetryscopeConfigError)) throw error;
    // `retryscope: option "x.y" must be … (got …)`: keep the rule, drop the option's name and the value.
    const rule = /^retryscope: option "[^"]*" (.*?)(?: \(got .*\))?$/s.exec(error.message)?.[1];
    throw envError(name, rule ?? 'is not a valid value');
  }
  return value;
}

function onOff(env: Env, name: string, also = ''): boolean | undefined {
  const value = text(env, name)?.toLowerCase();
  if (value === undefined) return undefined;
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw envError(name, `must be ${also}on or off (or 1/0, true/false, yes/no)`);
}

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function envError(name: string, problem: string): RetryscopeConfigError {
  return new RetryscopeConfigError(`retryscope: ${name} ${problem}`);
}
