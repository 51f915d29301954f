/**
 * The pieces `resolveOptions` checks options with: one check per option, named
 * in the error, and values shown without leaking what they hold.
 */

/** Thrown by `instrument()` for options it cannot honour. Nothing is half-configured. */
export class RetryscopeConfigError extends TypeError {
  override name = 'RetryscopeConfigError';
}

/** Checks one value; throws RetryscopeConfigError naming the option. */
export type Check = (name: string, value: unknown) => void;
/** A check for every key of T, and no other: the compiler keeps this in step with the types. */
export type Rules<T> = { readonly [K in keyof Required<T>]: Check };

/** Rejects keys with no rule, then checks each key that is set. */
export function checkFields(name: string, value: object, rules: { readonly [key: string]: Check }): void {
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(rules, key))
      fail(join(name, key), `is not an option (known: ${Object.keys(rules).join(', ')})`);
  }
  for (const [key, v] of Object.entries(value)) {
    if (v !== undefined) rules[key]!(join(name, key), v);
  }
}

function join(name: string, key: string): string {
  return name ? `${name}.${key}` : key;
}

/** An object whose fields follow `rules`. */
export function fields(rules: { readonly [key: string]: Check }, what = 'an object'): Check {
  return (name, value) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      fail(name, `must be ${what}`, value);
    checkFields(name, value, rules);
  };
}

/** A mechanism's setting: `false` (off), `true` (on, defaults) or its options. */
export function mechanism(rules: { readonly [key: string]: Check }): Check {
  return (name, value) => {
    if (value === false || value === true) return;
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      fail(name, 'must be false (off), true (on) or an options object', value);
    checkFields(name, value, rules);
  };
}

export function number(spec: { min?: number; above?: number; max?: number; integer?: boolean }): Check {
  const kind = spec.integer ? 'an integer' : 'a finite number';
  const bounds =
    spec.min !== undefined && spec.max !== undefined
      ? [`from ${spec.min} to ${spec.max}`]
      : [
          spec.above !== undefined ? `> ${spec.above}` : undefined,
          spec.min !== undefined ? `>= ${spec.min}` : undefined,
          spec.max !== undefined ? `<= ${spec.max}` : undefined,
        ].filter((b) => b !== undefined);
  const why = `must be ${kind}${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
  return (name, value) => {
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      (spec.integer && !Number.isInteger(value)) ||
      (spec.above !== undefined && !(value > spec.above)) ||
      (spec.min !== undefined && !(value >= spec.min)) ||
      (spec.max !== undefined && !(value <= spec.max))
    )
      fail(name, why, value);
  };
}

export function boolean(name: string, value: unknown): void {
  if (typeof value !== 'boolean') fail(name, 'must be a boolean', value);
}

export function oneOf(values: readonly string[]): Check {
  return (name, value) => {
    if (!values.includes(value as string)) fail(name, `must be one of ${values.join(', ')}`, value);
  };
}

export function fn(name: string, value: unknown): void {
  if (typeof value !== 'function') fail(name, 'must be a function');
}

// A marker for values shown by what they are, not by their contents (clients hold keys).
class Kind {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

export function kindOf(value: unknown): Kind {
  if (value === null) return new Kind('null');
  if (typeof value !== 'object') return new Kind(typeof value);
  return new Kind(`an object of class ${(value as object).constructor?.name ?? 'none'}`);
}

export function fail(name: string, why: string, ...value: unknown[]): never {
  const shown = value.length > 0 ? ` (got ${show(value[0])})` : '';
  throw new RetryscopeConfigError(`retryscope: option "${name}" ${why}${shown}`);
}

/** A value as the error shows it: NaN and Infinity by name (JSON would say null), long ones cut. */
function show(value: unknown): string {
  if (value instanceof Kind) return value.text;
  switch (typeof value) {
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'function':
      return 'a function';
    case 'symbol':
      return value.toString();
    case 'undefined':
      return 'undefined';
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // circular, or a throwing toJSON
  }
  text ??= Object.prototype.toString.call(value);
  return text.length <= 80 ? text : `${text.slice(0, 80)}…`;
}
