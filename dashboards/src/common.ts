/**
 * Shared pieces of the retryscope dashboards: data sources, template
 * variables, label selectors, query and panel helpers, and the data links
 * that turn any point on a graph into a Jaeger search for its traces.
 *
 * Metric names are the Prometheus forms of src/telemetry/attributes.ts, as
 * written by Prometheus's OTLP receiver (and VictoriaMetrics with
 * -opentelemetry.usePrometheusNaming): test/stack checks every query against
 * a real engine fed with those instruments.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/** Provisioned in stack/grafana/provisioning/datasources with these uids. */
export const PROMETHEUS: common.DataSourceRef = { type: 'prometheus', uid: 'prometheus' };
export const JAEGER_UID = 'jaeger';

/** Prometheus names of retryscope's instruments. */
export const M = {
  operations: 'gen_ai_client_operation_duration_seconds_count',
  operationBuckets: 'gen_ai_client_operation_duration_seconds_bucket',
  tokens: 'gen_ai_client_token_usage_sum',
  tokenBuckets: 'gen_ai_client_token_usage_bucket',
  // OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental: inference operations under these.
  inferences: 'gen_ai_client_inference_duration_seconds_count',
  inferenceBuckets: 'gen_ai_client_inference_duration_seconds_bucket',
  inputTokens: 'gen_ai_client_inference_usage_input_tokens_total',
  outputTokens: 'gen_ai_client_inference_usage_output_tokens_total',
  inputTokenBuckets: 'gen_ai_client_inference_operation_input_tokens_bucket',
  outputTokenBuckets: 'gen_ai_client_inference_operation_output_tokens_bucket',
  attempts: 'retryscope_client_attempts_total',
  backoffCount: 'retryscope_client_backoff_duration_seconds_count',
  backoffBuckets: 'retryscope_client_backoff_duration_seconds_bucket',
  quotaExhausted: 'retryscope_client_quota_exhausted_total',
  remainingRequests: 'retryscope_client_ratelimit_remaining_requests',
  remainingTokens: 'retryscope_client_ratelimit_remaining_tokens',
  resetRequests: 'retryscope_client_ratelimit_reset_requests_seconds',
  resetTokens: 'retryscope_client_ratelimit_reset_tokens_seconds',
  queueCount: 'retryscope_client_queue_duration_seconds_count',
  queueBuckets: 'retryscope_client_queue_duration_seconds_bucket',
  limiterRejected: 'retryscope_client_limiter_rejected_total',
  queueDepth: 'retryscope_client_queue_depth',
  // Unit `{request}/s`: the braces go, `/s` becomes `_per_second`.
  limiterRate: 'retryscope_client_limiter_rate_per_second',
  retryBudget: 'retryscope_client_retry_budget_remaining',
  circuitState: 'retryscope_client_circuit_state',
  fallbacks: 'retryscope_client_fallbacks_total',
  finishReasons: 'retryscope_client_finish_reasons_total',
  // Usage and cost. Unit `{USD}` and `{token}`: the braces go; unit `1` on a gauge adds `_ratio`.
  cost: 'retryscope_client_cost_usd_total',
  tokensByType: 'retryscope_client_tokens_total',
  utilization: 'retryscope_client_ratelimit_utilization_ratio',
  budgetUsed: 'retryscope_client_budget_used_ratio',
  budgetLimit: 'retryscope_client_budget_limit',
  budgetSoftLimit: 'retryscope_client_budget_soft_limit_ratio',
} as const;

/**
 * Every series is filtered by both variables. The pacing gauges and the
 * limiter's rejections carry the model of the call that reported them too.
 */
export const BY_SERVICE_AND_MODEL = 'service_name=~"$service", gen_ai_request_model=~"$model"';

/**
 * A failed call: any outcome but success, fallback and budget_exceeded (the alert rules agree). A
 * budget's refusal is a decision, shown on the usage dashboard's budget panels and paged by its own alert.
 */
export const FAILED = 'retryscope_outcome!~"success|fallback|budget_exceeded"';

export const RATE = '$__rate_interval';

/**
 * Both namings of the GenAI metrics (OTEL_SEMCONV_STABILITY_OPT_IN) in one
 * query, so a dashboard or rule works for either, or a fleet running both.
 * `or` joins series label set by label set: the same operation is never
 * recorded under both names, so nothing is dropped.
 */
export function eitherNaming(defaultName: string, latestName: string, selector: string): string {
  return `(rate(${defaultName}{${selector}}[${RATE}]) or rate(${latestName}{${selector}}[${RATE}]))`;
}

/** Finished operations per second, under either naming. */
export const operationsRate = (selector: string) => eitherNaming(M.operations, M.inferences, selector);

/**
 * Token rates by `gen_ai_token_type` under either naming: the latest names
 * input and output as separate metrics, so `label_replace` gives them the
 * default naming's label.
 */
export function tokenRates(defaultName: string, input: string, output: string, selector: string): string {
  const typed = (name: string, type: string) =>
    `label_replace(rate(${name}{${selector}}[${RATE}]), "gen_ai_token_type", "${type}", "", "")`;
  return `(rate(${defaultName}{${selector}}[${RATE}]) or ${typed(input, 'input')} or ${typed(output, 'output')})`;
}

export function variables(): dashboard.QueryVariableBuilder[] {
  // Either naming's operation series (a variable takes one selector, not an expression).
  const ops = `__name__=~"${M.operations}|${M.inferences}"`;
  const service = `label_values({${ops}}, service_name)`;
  const model = `label_values({${ops}, service_name=~"$service"}, gen_ai_request_model)`;
  return [
    new dashboard.QueryVariableBuilder('service')
      .label('Service')
      .description('service.name of the instrumented app')
      .datasource(PROMETHEUS)
      .query(service)
      .definition(service)
      .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
      .sort(dashboard.VariableSort.AlphabeticalAsc)
      .multi(true)
      .includeAll(true)
      .allValue('.*'),
    new dashboard.QueryVariableBuilder('model')
      .label('Model')
      .description('gen_ai.request.model')
      .datasource(PROMETHEUS)
      .query(model)
      .definition(model)
      .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
      .sort(dashboard.VariableSort.AlphabeticalAsc)
      .multi(true)
      .includeAll(true)
      .allValue('.*'),
  ];
}

/** Where data links send the browser; override with ?var-jaeger_url=... */
export function jaegerUrlVariable(): dashboard.ConstantVariableBuilder {
  return new dashboard.ConstantVariableBuilder('jaeger_url')
    .label('Jaeger UI')
    .description('Base URL of the Jaeger UI that data links open')
    .value('http://localhost:16686');
}

/** `${name}`: a Grafana variable, kept out of JS template syntax on purpose. */
export function grafanaVar(name: string): string {
  return ['$', '{', name, '}'].join('');
}

/** The value of one label of the clicked series, in a data link. */
export function seriesLabel(label: string): string {
  return grafanaVar(`__field.labels.${label}`);
}

/**
 * A Jaeger search for the traces behind one point: the series' service, span
 * tags from its labels, from the dashboard's start up to the clicked time.
 * Jaeger lists the most recent first, so the top results are the ones from
 * the bad minute. Tag values that are Grafana variables stay unencoded so
 * Grafana can interpolate them.
 */
export function jaegerSearch(
  title: string,
  tags: Record<string, string>,
  extra: Record<string, string> = {},
): dashboard.DashboardLinkBuilder {
  const tagJson = Object.entries(tags)
    .map(([k, v]) => `${encodeURIComponent(`"${k}":"`)}${v}${encodeURIComponent('"')}`)
    .join(encodeURIComponent(','));
  const params = [
    `service=${seriesLabel('service_name')}`,
    `start=${grafanaVar('__from')}000`,
    `end=${grafanaVar('__value.time')}000`,
    'lookback=custom',
    'limit=20',
    ...Object.entries(extra).map(([k, v]) => `${k}=${v}`),
  ];
  if (tagJson) params.push(`tags=${encodeURIComponent('{')}${tagJson}${encodeURIComponent('}')}`);
  return new dashboard.DashboardLinkBuilder(title)
    .url(`${grafanaVar('jaeger_url')}/search?${params.join('&')}`)
    .targetBlank(true);
}

export interface QueryOptions {
  refId?: string;
  exemplar?: boolean;
  instant?: boolean;
}

export function query(expr: string, legend: string, opts: QueryOptions = {}): prometheus.DataqueryBuilder {
  const q = new prometheus.DataqueryBuilder()
    .datasource(PROMETHEUS)
    .expr(expr)
    .legendFormat(legend)
    .refId(opts.refId ?? 'A');
  if (opts.exemplar) q.exemplar(true);
  if (opts.instant) q.instant();
  else q.range();
  return q;
}

/** A time series panel with the house style: table legend, all-series tooltip. */
export function graph(title: string, description: string, unit: string): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .unit(unit)
    .lineWidth(1)
    .fillOpacity(10)
    .showPoints(common.VisibilityMode.Never)
    .legend(
      new common.VizLegendOptionsBuilder()
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .showLegend(true)
        .calcs(['mean', 'max', 'lastNotNull']),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder()
        .mode(common.TooltipDisplayMode.Multi)
        .sort(common.SortOrder.Descending),
    );
}

/**
 * A graph of a histogram's quantiles, one target each (refIds A, B, ...):
 * `histogram_quantile(q, <buckets>)`, legend `p<q> <legend>`.
 */
export function quantileGraph(
  panel: { title: string; description: string; unit: string },
  buckets: string,
  legend: string,
  quantiles: readonly number[] = [0.5, 0.95],
  exemplarAt?: number,
): timeseries.PanelBuilder {
  const g = graph(panel.title, panel.description, panel.unit);
  quantiles.forEach((p, i) => {
    g.withTarget(
      query(`histogram_quantile(${p}, ${buckets})`, `p${p * 100} ${legend}`, {
        refId: String.fromCharCode(65 + i),
        exemplar: p === exemplarAt,
      }),
    );
  });
  return g;
}

/** A dashed red line at an alert rule's threshold. */
export function alertLine(value: number): {
  thresholds: dashboard.ThresholdsConfigBuilder;
  style: common.GraphThresholdsStyleConfigBuilder;
} {
  return {
    thresholds: new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
      { value: null, color: 'transparent' },
      { value, color: 'red' },
    ]),
    style: new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
  };
}

/**
 * Quota-exhaustion events per window, by the given labels, only where there
 * were some. Series by series: one born within the window (an OTel counter
 * is born holding every event since the process started) counts its whole
 * value, which increase() cannot see; any other its increase(). Deciding per
 * series keeps an old series' increase from hiding a new one's events. The
 * same expression as the RetryscopeQuotaExhausted alert.
 */
export function quotaEvents(by: string, window: string, selector: string): string {
  const q = `${M.quotaExhausted}{${selector}}`;
  return `sum by (${by}) ((${q} unless ${q} offset ${window}) or increase(${q}[${window}])) > 0`;
}

/**
 * What both dashboards share: tags, read-only, refresh, time range, crosshair,
 * the service/model/Jaeger variables, and a link to the other dashboard.
 */
export function retryscopeDashboard(
  title: string,
  uid: string,
  description: string,
  linkTitle: string,
): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['retryscope', 'openai'])
    .readonly()
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .variables([...variables(), jaegerUrlVariable()])
    .link(
      new dashboard.DashboardLinkBuilder(linkTitle)
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags(['retryscope'])
        .includeVars(true)
        .keepTime(true)
        .asDropdown(false),
    );
}
