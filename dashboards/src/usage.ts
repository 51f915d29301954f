/**
 * "Usage and cost": where the money and the tokens go (by model, service,
 * tag, service tier), what the month will cost at this pace, how close each
 * model runs to its rate limits, and how much of each spend budget is gone.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import {
  alertLine,
  BY_SERVICE_AND_MODEL,
  graph,
  jaegerSearch,
  M,
  PROMETHEUS,
  query,
  RATE,
  retryscopeDashboard,
  seriesLabel,
} from './common.ts';

const S = BY_SERVICE_AND_MODEL;
/** Budgets are per client (and tag), not per model: the model picker does not filter them. */
const BY_SERVICE = 'service_name=~"$service"';
/** The tag key the "by tag" panels split by: `retryscope.tag.<key>` is the label `retryscope_tag_<key>`. */
const TAG_LABEL = 'retryscope_tag_$tag';
const PER_HOUR = 3600;
const THIRTY_DAYS = 30 * 86_400;

/** USD per hour, summed by `by`, at the graph's resolution. */
const spendPerHour = (by: string, selector = S) =>
  `sum by (${by}) (rate(${M.cost}{${selector}}[${RATE}])) * ${PER_HOUR}`;

function tagVariable(): dashboard.TextBoxVariableBuilder {
  return new dashboard.TextBoxVariableBuilder('tag')
    .label('Tag key')
    .description('The tag (retryscope.tag.<key>, an allow-listed tagKeys entry) the "by tag" panels split by')
    .defaultValue('feature')
    .current({ text: 'feature', value: 'feature' });
}

function spendByModel() {
  return graph(
    'Spend per hour by model',
    'USD per hour (retryscope.client.cost.usd), by the model asked for: every priced attempt counts, retries and fallback hops included. Calls to unpriced models cost nothing here (see retryscope.cost.unpriced on their spans).',
    'currencyUSD',
  )
    .axisLabel('USD/h')
    .min(0)
    .withTarget(
      query(spendPerHour('service_name, gen_ai_request_model'), '{{service_name}} {{gen_ai_request_model}}'),
    )
    .dataLinks([
      jaegerSearch('Calls to this model', { 'gen_ai.request.model': seriesLabel('gen_ai_request_model') }),
    ]);
}

function spendByService() {
  return graph(
    'Spend per hour by service',
    'USD per hour by service.name of the instrumented app, every model together.',
    'currencyUSD',
  )
    .axisLabel('USD/h')
    .min(0)
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal).group('A'))
    .withTarget(query(spendPerHour('service_name'), '{{service_name}}'));
}

function spendByTag() {
  return graph(
    'Spend per hour by tag',
    'USD per hour by the value of the tag chosen in "Tag key" (feature, tenant, ...: the allow-listed tagKeys). Calls without the tag show an empty value.',
    'currencyUSD',
  )
    .axisLabel('USD/h')
    .min(0)
    .withTarget(query(spendPerHour(`service_name, ${TAG_LABEL}`), `{{service_name}} $tag={{${TAG_LABEL}}}`));
}

function spendByTierAndOutcome() {
  return graph(
    'Spend per hour by service tier and attempt outcome',
    'USD per hour by the service tier that served (flex and batch bill at batch rates, priority above standard), and by how the attempt ended: spend on retried or failed attempts is what retries cost.',
    'currencyUSD',
  )
    .axisLabel('USD/h')
    .min(0)
    .withTarget(
      query(
        spendPerHour('service_name, openai_response_service_tier'),
        'tier {{openai_response_service_tier}} {{service_name}}',
      ),
    )
    .withTarget(
      query(
        spendPerHour('service_name, retryscope_attempt_outcome'),
        'attempt {{retryscope_attempt_outcome}} {{service_name}}',
        { refId: 'B' },
      ),
    );
}

/** A dollar figure per series, at the range's end (an instant query). */
function dollarStat(title: string, description: string, expr: string, legend: string) {
  return new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .unit('currencyUSD')
    .decimals(2)
    .colorMode(common.BigValueColorMode.None)
    .graphMode(common.BigValueGraphMode.None)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .withTarget(query(expr, legend, { instant: true }));
}

const projectedSpend = () =>
  dollarStat(
    'Projected 30-day spend',
    "The selected range's average spend rate, carried over 30 days: what a month costs at this pace. Widen the range for a steadier figure.",
    `sum by (service_name) (rate(${M.cost}{${S}}[$__range])) * ${THIRTY_DAYS}`,
    '{{service_name}}',
  );

function tokensByType() {
  return graph(
    'Tokens/s by type',
    'Tokens per second by retryscope.token.type and model. As OpenAI counts them, input includes cache_read and output includes reasoning: the parts are not added on top.',
    'short',
  )
    .axisLabel('tokens/s')
    .min(0)
    .withTarget(
      query(
        `sum by (service_name, gen_ai_request_model, retryscope_token_type) (rate(${M.tokensByType}{${S}}[${RATE}]))`,
        '{{gen_ai_request_model}} {{retryscope_token_type}}',
      ),
    );
}

function cacheHitShare() {
  const by = 'sum by (service_name, gen_ai_request_model)';
  const typed = (type: string) =>
    `${by} (rate(${M.tokensByType}{${S}, retryscope_token_type="${type}"}[${RATE}]))`;
  // A model with input and no cache hit reads 0, not a gap; a window with no input is a gap, not 0/0.
  return graph(
    'Cache-hit share of input tokens',
    'cache_read / input tokens by model: the share of the prompt served from the cache, billed at the cached-input price.',
    'percentunit',
  )
    .min(0)
    .max(1)
    .withTarget(
      query(
        `(${typed('cache_read')} or 0 * ${typed('input')}) / (${typed('input')} > 0)`,
        '{{service_name}} {{gen_ai_request_model}}',
      ),
    );
}

function utilization() {
  const line = alertLine(0.9);
  return graph(
    'Rate-limit utilization by model',
    "Share of each model's request and token limit in use, 1 - x-ratelimit-remaining / x-ratelimit-limit, as the last answer reported. Above the dashed line for 15 minutes of traffic the RetryscopeNearRateLimit alert fires: time to ask for a higher tier.",
    'percentunit',
  )
    .min(0)
    .max(1)
    .thresholds(line.thresholds)
    .thresholdsStyle(line.style)
    .withTarget(
      query(
        `max by (service_name, gen_ai_request_model, retryscope_ratelimit_kind) (${M.utilization}{${S}})`,
        '{{gen_ai_request_model}} {{retryscope_ratelimit_kind}}',
      ),
    );
}

/** Budgets by period, tag key and the value of the chosen tag key (for per-tag budgets on it). */
const budgetBy = `service_name, retryscope_budget_period, retryscope_budget_tag, ${TAG_LABEL}`;
const budgetLegend = `{{service_name}} per {{retryscope_budget_period}} {{retryscope_budget_tag}} {{${TAG_LABEL}}}`;
const budget = (metric: string) => `max by (${budgetBy}) (${metric}{${BY_SERVICE}})`;

function budgetUsed() {
  const line = alertLine(1);
  return graph(
    'Budget used',
    'Share of each spend budget used in its current period; the dashed line under each is its soft limit (RetryscopeBudgetBurn fires there), the red line is the budget (RetryscopeBudgetExhausted: calls are refused with BudgetExceededError).',
    'percentunit',
  )
    .min(0)
    .thresholds(line.thresholds)
    .thresholdsStyle(line.style)
    .withTarget(query(budget(M.budgetUsed), budgetLegend))
    .withTarget(query(budget(M.budgetSoftLimit), `soft limit ${budgetLegend}`, { refId: 'B' }))
    .overrideByQuery('B', [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }]);
}

const budgetLeft = () =>
  dollarStat(
    'Budget left this period',
    "Each budget's limit (USD per period) minus what its period has spent so far.",
    `clamp_min(${budget(M.budgetLimit)} * (1 - ${budget(M.budgetUsed)}), 0)`,
    budgetLegend,
  );

export function usageDashboard(): dashboard.Dashboard {
  return retryscopeDashboard(
    'Usage and cost',
    'retryscope-usage',
    'Spend in USD by model, service, tag and tier; the 30-day projection; tokens by type and the cache-hit share; rate-limit utilization; spend budgets.',
    'Overview',
  )
    .withVariable(tagVariable())
    .withRow(new dashboard.RowBuilder('Spend'))
    .withPanel(spendByModel().span(12).height(8))
    .withPanel(spendByService().span(8).height(8))
    .withPanel(projectedSpend().span(4).height(8))
    .withPanel(spendByTag().span(12).height(8))
    .withPanel(spendByTierAndOutcome().span(12).height(8))
    .withRow(new dashboard.RowBuilder('Tokens'))
    .withPanel(tokensByType().span(16).height(8))
    .withPanel(cacheHitShare().span(8).height(8))
    .withRow(new dashboard.RowBuilder('Limits and budgets'))
    .withPanel(utilization().span(12).height(8))
    .withPanel(budgetUsed().span(8).height(8))
    .withPanel(budgetLeft().span(4).height(8))
    .build();
}
