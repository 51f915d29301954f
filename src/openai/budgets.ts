/**
 * Spend budgets, acted on: before the primary hop sends, every budget that
 * applies to the call is read (the fleet's total through Redis when
 * `limiter.redis` is set, else this client's own ledger) and a spent one
 * refuses the call unsent; when the call ends, its cost is charged to each.
 * The policy (src/policy/spend-budget.ts) decides; this only reads and adds.
 */
import type { BudgetState } from '../observer.ts';
import {
  type BudgetSetting,
  budgetVerdict,
  DEFAULT_SOFT_LIMIT,
  periodEnd,
  periodStart,
  type SpendScope,
  scopeId,
} from '../policy/spend-budget.ts';
import type { Call } from './call.ts';
import { HopFailed } from './call-types.ts';
import { BudgetExceededError } from './errors.ts';
import { FETCH_RESPONSE } from './extract.ts';
import { cachedFingerprint } from './pacing.ts';
import { luaScript } from './redis-store.ts';

/** A budget that applies to one call: its setting and the spend it is kept under. */
interface Applied {
  setting: BudgetSetting;
  scope: SpendScope;
}

/** What each applicable budget had spent when the call was checked (before it sent). */
const checked = new WeakMap<Call, number[]>();
/** Calls already charged: a call is billed once, however its end is reported. */
const charged = new WeakSet<Call>();

/**
 * Refuses the call (a `budget_exceeded` HopFailed, nothing sent) when a budget that
 * applies to it is spent. Only a call that would spend is checked: one whose request
 * names a model. A poll (`fetch_response`), list, retrieve or delete bills nothing.
 */
export async function checkBudgets(call: Call): Promise<void> {
  const applied = applicable(call);
  if (applied.length === 0) return;
  const now = call.state.clock.now();
  const shared = await readShared(call, applied, now);
  const spent = applied.map((a, i) =>
    Math.max(call.state.pacing.spend.spent(a.scope, now), shared?.[i] ?? 0),
  );
  checked.set(call, spent);
  applied.forEach(({ setting, scope }, i) => {
    if (budgetVerdict(spent[i]!, setting.usd, softLimitOf(setting)) !== 'refuse') return;
    const error = new BudgetExceededError({
      per: setting.per,
      limitUsd: setting.usd,
      spentUsd: spent[i]!,
      ...(scope.tag ? { tag: scope.tag.key } : {}),
      resetsAtMs: periodEnd(now, setting.per),
    });
    throw new HopFailed(error, 'budget_exceeded');
  });
}

/**
 * Charges the call's cost to every budget that applies (fallbacks' spend counts too) and
 * says where each stands now; undefined when no budget applies.
 */
export function settleBudgets(call: Call): BudgetState[] | undefined {
  const applied = applicable(call);
  if (applied.length === 0) return undefined;
  const now = call.state.clock.now();
  const ledger = call.state.pacing.spend;
  const before = checked.get(call);
  const cost = call.cost;
  const usd = cost && 'usd' in cost && cost.usd > 0 && !charged.has(call) ? cost.usd : 0;
  if (usd > 0) {
    charged.add(call);
    addShared(call, applied, now, usd);
  }
  return applied.map(({ setting, scope }, i) => {
    const own = usd > 0 ? ledger.charge(scope, now, usd) : ledger.spent(scope, now);
    // The fleet's total as read before sending, plus this call: never less than this process's own.
    const spentUsd = Math.max(own, (before?.[i] ?? 0) + usd);
    return {
      period: setting.per,
      // The gauge's label is the recorded (capped) value: the budget itself is kept by the real one.
      ...(scope.tag
        ? { tag: { key: scope.tag.key, value: call.tags[scope.tag.key] ?? scope.tag.value } }
        : {}),
      spentUsd,
      limitUsd: setting.usd,
      softLimit: softLimitOf(setting),
      resetsAtMs: periodEnd(now, setting.per),
    };
  });
}

/** The budgets over this call: every client-wide one, and each per-tag one whose tag the call has. */
function applicable(call: Call): Applied[] {
  const budget = call.state.options.budget;
  if (budget === undefined || budget === false) return [];
  if (call.info.model === undefined || call.info.operationName === FETCH_RESPONSE) return [];
  const settings: readonly BudgetSetting[] = Array.isArray(budget) ? budget : [budget as BudgetSetting];
  const tags = call.tagValues;
  const out: Applied[] = [];
  for (const setting of settings) {
    if (setting.tag === undefined) out.push({ setting, scope: { per: setting.per } });
    else if (tags[setting.tag] !== undefined)
      out.push({
        setting,
        scope: { per: setting.per, tag: { key: setting.tag, value: tags[setting.tag]! } },
      });
  }
  return out;
}

function softLimitOf(setting: BudgetSetting): number {
  return setting.softLimit ?? DEFAULT_SOFT_LIMIT;
}

// --- the fleet's totals, in Redis ---

/**
 * One key per (API key fingerprint, budget scope, period start): the credential's hash tag, so a
 * key's budgets share one Cluster slot; the scope hashed, as a tag value is the caller's data.
 * `get` returns each key's total; `add` adds ARGV[2] dollars to each (INCRBYFLOAT) and sets its
 * time to live, ARGV[2 + i] ms (relative: Redis's clock need not agree with this process's), past
 * its period's end.
 */
const SPEND = luaScript(`
if ARGV[1] == 'add' then
  for i, key in ipairs(KEYS) do
    redis.call('INCRBYFLOAT', key, ARGV[2])
    redis.call('PEXPIRE', key, ARGV[2 + i])
  end
  return 1
end
local totals = {}
for i, key in ipairs(KEYS) do totals[i] = redis.call('GET', key) or '0' end
return totals
`);

// A key outlives its period by an hour: a process whose clock runs a little behind still finds it.
const EXPIRY_MARGIN_MS = 3_600_000;

function spendKeys(prefix: string, credential: string, applied: Applied[], now: number): string[] {
  return applied.map(
    ({ scope }) =>
      `${prefix}:{${credential}}:s:${cachedFingerprint(scopeId(scope))}:${periodStart(now, scope.per)}`,
  );
}

/** The fleet's totals, or undefined (this client's ledger stands in) without Redis or when it did not answer. */
async function readShared(call: Call, applied: Applied[], now: number): Promise<number[] | undefined> {
  const shared = call.state.pacing.sharedSpend(call.state.client);
  if (!shared) return undefined;
  const keys = spendKeys(shared.store.prefix, shared.credential, applied, now);
  const reply = await shared.fleet.ask(() => shared.store.script(SPEND, keys, ['get']));
  if (reply === undefined) {
    call.observer.storeFellBack();
    return undefined;
  }
  return Array.isArray(reply) ? reply.map((v) => Number(v) || 0) : undefined;
}

function addShared(call: Call, applied: Applied[], now: number, usd: number): void {
  const shared = call.state.pacing.sharedSpend(call.state.client);
  if (!shared) return;
  const keys = spendKeys(shared.store.prefix, shared.credential, applied, now);
  const ttls = applied.map(({ scope }) => String(periodEnd(now, scope.per) - now + EXPIRY_MARGIN_MS));
  shared.fleet.tell(() => shared.store.script(SPEND, keys, ['add', String(usd), ...ttls]));
}
