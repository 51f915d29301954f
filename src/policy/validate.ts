import { isRecord } from './is-record.ts';
import type { TokenCounting } from './token-estimate.ts';
import { CONTEXT_CHECKS } from './validate-context.ts';
import { FIELD_CHECKS } from './validate-fields.ts';
import { endpointOf } from './validate-routes.ts';
import { type ValidationProblem, wrongType } from './validation-problem.ts';

export type { ValidationProblem } from './validation-problem.ts';

/** One request as the SDK is about to send it. */
export interface ValidationRequest {
  /** The HTTP method, any case: `post`, `GET`. */
  method: string;
  /** The path under the client's base URL: `/chat/completions`, `/responses/resp_1/cancel`. */
  path: string;
  body: unknown;
}

export interface ValidateOptions {
  /** Context windows merged over `CONTEXT_WINDOWS`; `Infinity` switches a model's check off. */
  contextWindows?: Readonly<Record<string, number>>;
  /** For tests: the tokenizer and the pauses between slices (default: gpt-tokenizer, setImmediate). */
  counting?: TokenCounting;
}

/**
 * Finds what the OpenAI API would refuse with a 400 before the request is
 * sent, so that it costs no round trip, no rate-limit slot and no trace.
 *
 * Only the create calls listed in `ROUTES` are checked; any other method or
 * path is sent untouched. It refuses only what the API would refuse, erring
 * the other way when in doubt: a request it lets through may still fail there
 * (tool schemas, images, model-specific limits), and token counts are
 * estimates that run low rather than high. The one addition is NaN and
 * Infinity in numeric fields, which JSON would silently send as null. Unknown
 * fields are fine, and it never rejects.
 *
 * Asynchronous because a long prompt's length is measured in slices that
 * yield to the event loop (see token-estimate.ts); a short one settles
 * without waiting for a turn of the loop.
 */
export async function validateRequest(
  request: ValidationRequest,
  options: ValidateOptions = {},
): Promise<ValidationProblem | undefined> {
  try {
    const endpoint = endpointOf(request.method, request.path);
    if (endpoint === undefined) return undefined;
    const body = request.body;
    // Only a JSON body is ours to judge. A string, bytes, FormData or a stream (a signed or
    // pre-serialized request, a provider's own encoding) is sent as is: the server decides.
    if (body !== null && body !== undefined && !Array.isArray(body) && !isPlainObject(body)) return undefined;
    if (!isRecord(body)) return wrongType('body', 'an object', body);
    return FIELD_CHECKS[endpoint](body) ?? (await CONTEXT_CHECKS[endpoint]!(body, options));
  } catch {
    // A getter or a Proxy that throws: the server is the judge of such a body.
    return undefined;
  }
}

function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
