/** "OpenAI client: overview": traffic, errors, retries, latency, tokens, fallbacks. */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  alertLine,
  BY_SERVICE_AND_MODEL,
  eitherNaming,
  FAILED,
  grafanaVar,
  graph,
  JAEGER_UID,
  jaegerSearch,
  M,
  operationsRate,
  quantileGraph,
  query,
  RATE,
  retryscopeDashboard,
  seriesLabel,
  tokenRates,
} from './common.ts';

const S = BY_SERVICE_AND_MODEL;

function operationsByOutcome() {
  return graph(
    'Operations/s by outcome',
    'Finished calls per second, by how they ended (retryscope.outcome). Click a point for the traces of that outcome.',
    'ops',
  )
    .withTarget(
      query(
        `sum by (service_name, retryscope_outcome) (${operationsRate(S)})`,
        '{{service_name}} {{retryscope_outcome}}',
      ),
    )
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal).group('A'))
    .dataLinks([
      jaegerSearch('Traces with this outcome', {
        'retryscope.outcome': seriesLabel('retryscope_outcome'),
      }),
    ]);
}

function errorRateByClass() {
  const line = alertLine(5);
  return graph(
    'Error rate % by error class',
    'Share of calls that failed (any outcome but success or fallback), split by error.type. The dashed line is the RetryscopeHighErrorRate alert threshold.',
    'percent',
  )
    .withTarget(
      query(
        `100 * sum by (service_name, error_type) (${operationsRate(`${S}, ${FAILED}`)})` +
          ` / ignoring (error_type) group_left sum by (service_name) (${operationsRate(S)})`,
        '{{service_name}} {{error_type}}',
      ),
    )
    .thresholds(line.thresholds)
    .thresholdsStyle(line.style)
    .min(0)
    .dataLinks([jaegerSearch('Traces with this error class', { 'error.type': seriesLabel('error_type') })]);
}

function attemptsPerOperation() {
  const line = alertLine(2);
  return graph(
    'Attempts per operation',
    'HTTP attempts per finished call. 1 means no retries; above the dashed line the RetryscopeRetryStorm alert fires.',
    'short',
  )
    .withTarget(
      query(
        `sum by (service_name, gen_ai_request_model) (rate(${M.attempts}{${S}}[${RATE}]))` +
          ` / sum by (service_name, gen_ai_request_model) (${operationsRate(S)})`,
        '{{service_name}} {{gen_ai_request_model}}',
      ),
    )
    .thresholds(line.thresholds)
    .thresholdsStyle(line.style)
    .min(0)
    .dataLinks([
      jaegerSearch('Retried calls on this model', {
        'gen_ai.request.model': seriesLabel('gen_ai_request_model'),
        'retryscope.attempt.outcome': 'retried',
      }),
    ]);
}

function retriesByReason() {
  return graph(
    'Retries/s by reason',
    'Backoff waits taken per second, by why the policy retried (retryscope.retry_reason).',
    'ops',
  )
    .withTarget(
      query(
        `sum by (service_name, retryscope_retry_reason) (rate(${M.backoffCount}{${S}}[${RATE}]))`,
        '{{service_name}} {{retryscope_retry_reason}}',
      ),
    )
    .dataLinks([
      jaegerSearch('Traces retried for this reason', {
        'retryscope.retry_reason': seriesLabel('retryscope_retry_reason'),
      }),
    ]);
}

function backoffWait() {
  return quantileGraph(
    {
      title: 'Backoff wait p50 / p95 by source',
      description:
        'How long the client waited before retrying, by who set the wait: the server (retry-after-ms, retry-after), the exponential backoff, or the client-side limiter holding the retry longer.',
      unit: 's',
    },
    `sum by (service_name, retryscope_backoff_source, le) (rate(${M.backoffBuckets}{${S}}[${RATE}]))`,
    '{{retryscope_backoff_source}}',
  ).dataLinks([
    jaegerSearch('Attempts that waited this way', {
      'retryscope.backoff_source': seriesLabel('retryscope_backoff_source'),
    }),
  ]);
}

function latency() {
  return quantileGraph(
    {
      title: 'Operation latency p50 / p95 / p99',
      description:
        'Whole-call duration, every attempt and wait included. Exemplar dots open their trace in Jaeger; a click on a line searches calls slower than that value.',
      unit: 's',
    },
    `sum by (service_name, le) (${eitherNaming(M.operationBuckets, M.inferenceBuckets, S)})`,
    '{{service_name}}',
    [0.5, 0.95, 0.99],
    0.99,
  ).dataLinks([
    jaegerSearch('Calls at least this slow', {}, { minDuration: `${grafanaVar('__value.numeric')}s` }),
  ]);
}

function tokens() {
  return graph('Tokens/s', 'Tokens per second by type (input, output) and model.', 'short')
    .axisLabel('tokens/s')
    .withTarget(
      query(
        `sum by (service_name, gen_ai_request_model, gen_ai_token_type) (${tokenRates(M.tokens, M.inputTokens, M.outputTokens, S)})`,
        '{{gen_ai_request_model}} {{gen_ai_token_type}}',
      ),
    );
}

function tokensPerOperation() {
  return quantileGraph(
    {
      title: 'Tokens per operation p50 / p95',
      description: 'How many tokens one call uses, by type (input, output): the outliers a total hides.',
      unit: 'short',
    },
    `sum by (service_name, gen_ai_token_type, le) (${tokenRates(M.tokenBuckets, M.inputTokenBuckets, M.outputTokenBuckets, S)})`,
    '{{service_name}} {{gen_ai_token_type}}',
  );
}

function fallbacks() {
  return graph(
    'Fallbacks',
    'Calls served by a fallback per second, by why the hop before gave up, the model that served them, and which hop it was (1 = the first fallback).',
    'ops',
  )
    .withTarget(
      query(
        `sum by (service_name, retryscope_fallback_reason, gen_ai_request_model, retryscope_fallback_index) (rate(${M.fallbacks}{${S}}[${RATE}]))`,
        '{{retryscope_fallback_reason}} → {{gen_ai_request_model}} (hop {{retryscope_fallback_index}})',
      ),
    )
    .dataLinks([
      jaegerSearch('Traces that fell back for this reason', {
        'retryscope.fallback_reason': seriesLabel('retryscope_fallback_reason'),
      }),
    ]);
}

export function overviewDashboard(): dashboard.Dashboard {
  return retryscopeDashboard(
    'OpenAI client: overview',
    'retryscope-overview',
    `Calls made through retryscope: outcomes, errors, retries, latency and tokens. Traces in Jaeger (${JAEGER_UID}).`,
    'Quota and rate limits',
  )
    .withRow(new dashboard.RowBuilder('Traffic and errors'))
    .withPanel(operationsByOutcome().span(12).height(8))
    .withPanel(errorRateByClass().span(12).height(8))
    .withRow(new dashboard.RowBuilder('Retries'))
    .withPanel(attemptsPerOperation().span(8).height(8))
    .withPanel(retriesByReason().span(8).height(8))
    .withPanel(backoffWait().span(8).height(8))
    .withRow(new dashboard.RowBuilder('Latency, tokens, fallbacks'))
    .withPanel(latency().span(12).height(9))
    .withPanel(tokens().span(12).height(9))
    .withPanel(tokensPerOperation().span(12).height(7))
    .withPanel(fallbacks().span(12).height(7))
    .build();
}
