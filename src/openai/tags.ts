/** A call's attribution tags: the client's own, and the allow-listed baggage active when it started. */
import { type Context, propagation } from '@opentelemetry/api';
import { capTags } from '../policy/tags.ts';
import { OTHER } from '../telemetry/attributes.ts';
import { safely } from '../telemetry/safely.ts';
import type { ClientState } from './call-types.ts';

const NONE: Readonly<Record<string, string>> = Object.freeze({});

/** A call's tags as recorded (capped, see policy/tags.ts), and their values as its budgets key them (uncapped). */
export interface CallTags {
  recorded: Readonly<Record<string, string>>;
  values: Readonly<Record<string, string>>;
}

export function callTags(state: ClientState, parent: Context): CallTags {
  const { tags, tagKeys, maxTagValues } = state.options;
  if (tagKeys.length === 0) return { recorded: NONE, values: NONE };
  // Baggage is whatever the app (or an upstream service) put in the context: reading it must not fail the call.
  const baggage =
    safely('baggage', () =>
      (propagation.getBaggage(parent)?.getAllEntries() ?? []).map(
        ([key, entry]) => [key, entry.value] as const,
      ),
    ) ?? [];
  return capTags({
    code: tags,
    baggage,
    keys: tagKeys,
    maxValues: maxTagValues,
    seen: state.tagValues,
    overflow: OTHER,
  });
}
