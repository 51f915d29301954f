/**
 * The one rule for strings a server controls (ids, codes, model names,
 * finish reasons) on their way into telemetry. A server or proxy that echoes
 * the request can put anything there, the Authorization header and the
 * prompt included, so:
 *
 * - on spans, a value must look like an identifier (letters, digits and
 *   `._:/@+=-`, at most {@link MAX_SPAN_VALUE} characters) and must not
 *   contain the client's API key; anything else is recorded as `_OTHER`;
 * - on metrics, where every distinct value is a new series kept for the
 *   process's life, error codes must be in {@link KNOWN_ERROR_CODES} and
 *   model names match {@link METRIC_MODEL_PATTERN}; anything else is `_OTHER`,
 *   as the OpenTelemetry conventions do for `error.type`.
 */
import { OTHER } from './attributes.ts';

/** The longest server-supplied string a span attribute carries. */
export const MAX_SPAN_VALUE = 256;

const IDENTIFIER = /^[A-Za-z0-9._:/@+=-]+$/;

/** Model names kept on metrics: new and fine-tuned models (`ft:gpt-4o:org::id`) keep their names. */
export const METRIC_MODEL_PATTERN = /^[A-Za-z0-9._:/-]{1,64}$/;

/**
 * Error codes OpenAI (and Azure OpenAI) send, plus retryscope's own. Codes
 * outside this list are `_OTHER` on metrics; spans keep them.
 */
export const KNOWN_ERROR_CODES: ReadonlySet<string> = new Set([
  // Rate limits and quota
  'rate_limit_exceeded',
  'insufficient_quota',
  'tokens_exceeded',
  'requests',
  'tokens',
  'billing_hard_limit_reached',
  // Authentication and access
  'invalid_api_key',
  'invalid_organization',
  'no_such_organization',
  'invalid_project',
  'account_deactivated',
  'organization_deactivated',
  'unsupported_country_region_territory',
  'model_not_found',
  'DeploymentNotFound',
  'deployment_not_found',
  // Request validation
  'context_length_exceeded',
  'string_above_max_length',
  'array_above_max_length',
  'integer_above_max_value',
  'integer_below_min_value',
  'decimal_above_max_value',
  'decimal_below_min_value',
  'missing_required_parameter',
  'unknown_parameter',
  'unsupported_parameter',
  'unsupported_value',
  'invalid_value',
  'invalid_type',
  'empty_array',
  'invalid_request_error',
  'invalid_prompt',
  'invalid_image',
  'invalid_image_format',
  'invalid_image_url',
  'image_parse_error',
  'request_too_large',
  'content_filter',
  'content_policy_violation',
  'flagged_content',
  // Server side
  'server_error',
  'api_error',
  'engine_overloaded',
  'timeout',
  // retryscope's own (client-side refusals)
  'client_queue_full',
  'client_deadline',
]);

/** Azure sends HTTP statuses as codes (`"429"`): a bounded set, so kept. */
const STATUS_CODE = /^[1-5]\d\d$/;

/** A server-supplied string for a span attribute, or `_OTHER` when it breaks the rule. */
export function spanValue(value: string, secrets: ReadonlySet<string> = NO_SECRETS): string {
  if (value.length === 0 || value.length > MAX_SPAN_VALUE || !IDENTIFIER.test(value)) return OTHER;
  for (const secret of secrets) if (value.includes(secret)) return OTHER;
  return value;
}

/** An error code for a metric attribute: known codes only. */
export function metricErrorCode(code: string): string {
  return KNOWN_ERROR_CODES.has(code) || STATUS_CODE.test(code) ? code : OTHER;
}

/** A model name for a metric attribute. */
export function metricModel(model: string, secrets: ReadonlySet<string> = NO_SECRETS): string {
  if (!METRIC_MODEL_PATTERN.test(model)) return OTHER;
  for (const secret of secrets) if (model.includes(secret)) return OTHER;
  return model;
}

const NO_SECRETS: ReadonlySet<string> = new Set();

// Control characters (escape sequences) and format characters (bidi overrides, zero-width).
const CONTROL = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

/** Text for a terminal: control characters (escape sequences, bidi overrides) shown as `?`, length capped. */
export function printable(text: string, max = MAX_SPAN_VALUE): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(CONTROL, '?');
}
