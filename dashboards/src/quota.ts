/**
 * "Quota and rate limits": are we out of quota, how close to the limits are
 * we, and what is the client's own pacing (limiter, retry budget, breaker)
 * doing about it.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import {
  BY_SERVICE_AND_MODEL,
  graph,
  jaegerSearch,
  M,
  PROMETHEUS,
  quantileGraph,
  query,
  quotaEvents,
  RATE,
  retryscopeDashboard,
  seriesLabel,
} from './common.ts';

const S = BY_SERVICE_AND_MODEL;

const quotaLink = () =>
  jaegerSearch('Traces that hit insufficient_quota', { 'retryscope.error.code': 'insufficient_quota' });

function quotaEventsOverTime() {
  return graph(
    'Quota-exhaustion events',
    'Attempts answered with insufficient_quota per interval, by model. Any bar here means billing, not pacing: retries cannot fix it.',
    'short',
  )
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(80)
    .withTarget(
      query(
        quotaEvents('service_name, gen_ai_request_model', RATE, S),
        '{{service_name}} {{gen_ai_request_model}}',
      ),
    )
    .dataLinks([quotaLink()]);
}

function quotaEventsInRange() {
  return new stat.PanelBuilder()
    .title('Quota events in range')
    .description('insufficient_quota answers in the selected time range.')
    .datasource(PROMETHEUS)
    .unit('short')
    .noValue('0')
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .thresholds(
      new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
        { value: null, color: 'green' },
        { value: 1, color: 'red' },
      ]),
    )
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .withTarget(query(`sum(${quotaEvents('service_name', '$__range', S)})`, 'events', { instant: true }))
    .dataLinks([quotaLink()]);
}

function lastQuotaEvent() {
  // The Time field of a series that only has points where events happened:
  // its last value is when the last one was seen.
  return new stat.PanelBuilder()
    .title('Last quota event')
    .description('When an attempt last met insufficient_quota (within the time range).')
    .datasource(PROMETHEUS)
    .unit('dateTimeFromNow')
    .noValue('none in range')
    .colorMode(common.BigValueColorMode.None)
    .graphMode(common.BigValueGraphMode.None)
    .reduceOptions(
      new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).fields('/^Time$/').values(false),
    )
    .withTarget(query(`sum(${quotaEvents('service_name', RATE, S)})`, 'events'))
    .dataLinks([quotaLink()]);
}

function rateLimitSplit() {
  return graph(
    '429s: rate limit vs insufficient_quota',
    'HTTP 429 attempts per second by the error code in the body. rate_limit_exceeded clears with time (and retries); insufficient_quota does not.',
    'ops',
  )
    .withTarget(
      query(
        `sum by (service_name, retryscope_error_code) (rate(${M.attempts}{${S}, http_response_status_code="429"}[${RATE}]))`,
        '{{service_name}} {{retryscope_error_code}}',
      ),
    )
    .dataLinks([
      jaegerSearch('Attempts with this error code', {
        'retryscope.error.code': seriesLabel('retryscope_error_code'),
      }),
    ]);
}

function headroom(title: string, metric: string, what: string) {
  return graph(title, `Last x-ratelimit-remaining-${what} the API reported, by model.`, 'short')
    .min(0)
    .withTarget(
      query(
        `min by (service_name, gen_ai_request_model) (${metric}{${S}})`,
        '{{service_name}} {{gen_ai_request_model}}',
      ),
    );
}

function timeToReset() {
  const q = (metric: string, what: string, ref: string) =>
    query(
      `max by (service_name, gen_ai_request_model) (${metric}{${S}})`,
      `${what} {{gen_ai_request_model}}`,
      { refId: ref },
    );
  return graph(
    'Time to limit reset',
    'x-ratelimit-reset-requests / -tokens: how long until the window refills.',
    's',
  )
    .withTarget(q(M.resetRequests, 'requests', 'A'))
    .withTarget(q(M.resetTokens, 'tokens', 'B'));
}

function limiterHeldOrRejected() {
  return graph(
    "Calls held or rejected by the client's limiter",
    'Calls that waited in the client-side queue per second, and calls it refused, by outcome (queue_full, deadline_exceeded, circuit_open) and the model they were for.',
    'ops',
  )
    .withTarget(
      query(`sum by (service_name) (rate(${M.queueCount}{${S}}[${RATE}]))`, 'held {{service_name}}'),
    )
    .withTarget(
      query(
        `sum by (service_name, gen_ai_request_model, retryscope_outcome) (rate(${M.limiterRejected}{${S}}[${RATE}]))`,
        'rejected {{retryscope_outcome}} {{gen_ai_request_model}}',
        { refId: 'B' },
      ),
    )
    .dataLinks([
      jaegerSearch('Calls refused this way', {
        'retryscope.outcome': seriesLabel('retryscope_outcome'),
      }),
    ]);
}

function queueTime() {
  return quantileGraph(
    {
      title: 'Queue time p50 / p95',
      description: 'Time calls waited in the client-side limiter before their first attempt.',
      unit: 's',
    },
    `sum by (service_name, le) (rate(${M.queueBuckets}{${S}}[${RATE}]))`,
    '{{service_name}}',
  );
}

/**
 * A pacing gauge: each call reports the state of what paced it. The limiter's
 * gauges are per bucket (a model, or a `modelGroups` pool, never the key), so
 * models that share a pool show one line, not the same queue once per model;
 * the retry budget is per client, shown by the model of the call that read it.
 */
function pacingGauge(
  title: string,
  description: string,
  agg: 'max' | 'min',
  metric: string,
  unit: string,
  by: 'bucket' | 'model',
) {
  const label = by === 'bucket' ? 'retryscope_limiter_bucket' : 'gen_ai_request_model';
  return graph(title, description, unit)
    .min(0)
    .withTarget(
      query(`${agg} by (service_name, ${label}) (${metric}{${S}})`, `{{service_name}} {{${label}}}`),
    );
}

function breakerState() {
  const state = (color: string, text: string, index: number) => ({ color, text, index });
  return new statetimeline.PanelBuilder()
    .title('Circuit breaker state')
    .description(
      'One breaker per upstream model. closed: calls flow; half-open: probing; open: calls fail fast with circuit_open (or fall back).',
    )
    .datasource(PROMETHEUS)
    .mappings([
      {
        type: dashboard.MappingType.ValueToText,
        options: {
          '0': state('green', 'closed', 0),
          '1': state('yellow', 'half-open', 1),
          '2': state('red', 'open', 2),
        },
      },
    ])
    .withTarget(
      query(
        `max by (service_name, gen_ai_request_model) (${M.circuitState}{${S}})`,
        '{{service_name}} {{gen_ai_request_model}}',
      ),
    );
}

export function quotaDashboard(): dashboard.Dashboard {
  return retryscopeDashboard(
    'Quota and rate limits',
    'retryscope-quota',
    'Quota exhaustion, 429s, rate-limit headroom, and the client-side limiter, retry budget and breaker.',
    'Overview',
  )
    .withRow(new dashboard.RowBuilder('Are we out of quota?'))
    .withPanel(quotaEventsOverTime().span(14).height(8))
    .withPanel(quotaEventsInRange().span(5).height(8))
    .withPanel(lastQuotaEvent().span(5).height(8))
    .withRow(new dashboard.RowBuilder('Rate limits'))
    .withPanel(rateLimitSplit().span(12).height(8))
    .withPanel(timeToReset().span(12).height(8))
    .withPanel(headroom('Remaining requests', M.remainingRequests, 'requests').span(12).height(8))
    .withPanel(headroom('Remaining tokens', M.remainingTokens, 'tokens').span(12).height(8))
    .withRow(new dashboard.RowBuilder('Client-side pacing'))
    .withPanel(limiterHeldOrRejected().span(12).height(8))
    .withPanel(queueTime().span(12).height(8))
    .withPanel(
      pacingGauge(
        'Queue depth',
        'Calls waiting in the client-side limiter queue, per limiter bucket: one bucket per model (or `modelGroups` pool) on each upstream and credential, as OpenAI scopes its limits.',
        'max',
        M.queueDepth,
        'short',
        'bucket',
      )
        .span(6)
        .height(7),
    )
    .withPanel(
      pacingGauge(
        'Limiter rate',
        "The client-side limiter's send rate (requests/s) per limiter bucket: learned from the x-ratelimit headers of that model's answers, cut by storms of 429s.",
        'max',
        M.limiterRate,
        'reqps',
        'bucket',
      )
        .span(6)
        .height(7),
    )
    .withPanel(
      pacingGauge(
        'Retry budget remaining',
        'Retry tokens the budget still holds, as last seen by a call to each model; when a retry costs more than is left, failures are returned without retrying.',
        'min',
        M.retryBudget,
        'short',
        'model',
      )
        .span(6)
        .height(7),
    )
    .withPanel(breakerState().span(6).height(7))
    .build();
}
