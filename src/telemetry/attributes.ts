/**
 * Every span attribute and metric name retryscope emits, in one place.
 *
 * These names are a public contract: dashboards, alert rules and users' own
 * queries depend on them. Convention names follow the GenAI semantic
 * conventions at one pinned commit (`SEMCONV_GENAI_COMMIT`), not the moving
 * draft; while the package is pre-1.0 a name changes when the pin moves (said
 * in the CHANGELOG), and `retryscope.*` names only where the pin has one.
 *
 * In Prometheus (OTLP receiver, or VictoriaMetrics with
 * -opentelemetry.usePrometheusNaming) dots become underscores, counters gain
 * `_total` and units become suffixes: `retryscope.client.attempts` is queried as
 * `retryscope_client_attempts_total`, `gen_ai.client.operation.duration` as
 * `gen_ai_client_operation_duration_seconds_bucket`.
 */

// --- GenAI and HTTP semantic conventions -----------------------------------
/**
 * The `open-telemetry/semantic-conventions-genai` commit these names, requirement
 * levels and value sets were read from (docs/gen-ai/openai.md and
 * model/gen-ai/gen-ai-{input,output}-messages.json, gen-ai-system-instructions.json).
 */
export const SEMCONV_GENAI_COMMIT = '066d4a7f356f8600de6f10c42874626ab88692fb';
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const ATTR_GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const ATTR_GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
export const ATTR_GEN_AI_RESPONSE_ID = 'gen_ai.response.id';
export const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons';
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const ATTR_GEN_AI_TOKEN_TYPE = 'gen_ai.token.type';
/** Opt-in only (`captureContent`): the chat history sent, as the conventions' role-and-parts JSON. */
export const ATTR_GEN_AI_INPUT_MESSAGES = 'gen_ai.input.messages';
/** Opt-in only (`captureContent`): one message per choice, same schema, with `finish_reason`. */
export const ATTR_GEN_AI_OUTPUT_MESSAGES = 'gen_ai.output.messages';
/** Opt-in only (`captureContent`): instructions given apart from the history (Responses `instructions`). */
export const ATTR_GEN_AI_SYSTEM_INSTRUCTIONS = 'gen_ai.system_instructions';
/** Set only on streaming requests: the convention says unset means not streaming. */
export const ATTR_GEN_AI_REQUEST_STREAM = 'gen_ai.request.stream';
export const ATTR_GEN_AI_REQUEST_TEMPERATURE = 'gen_ai.request.temperature';
export const ATTR_GEN_AI_REQUEST_TOP_P = 'gen_ai.request.top_p';
/** From `max_tokens`, `max_completion_tokens` or `max_output_tokens`. */
export const ATTR_GEN_AI_REQUEST_MAX_TOKENS = 'gen_ai.request.max_tokens';
export const ATTR_GEN_AI_REQUEST_FREQUENCY_PENALTY = 'gen_ai.request.frequency_penalty';
export const ATTR_GEN_AI_REQUEST_PRESENCE_PENALTY = 'gen_ai.request.presence_penalty';
export const ATTR_GEN_AI_REQUEST_STOP_SEQUENCES = 'gen_ai.request.stop_sequences';
export const ATTR_GEN_AI_REQUEST_SEED = 'gen_ai.request.seed';
/** Only when `n` is not 1, as the convention requires. */
export const ATTR_GEN_AI_REQUEST_CHOICE_COUNT = 'gen_ai.request.choice.count';
/** `text`, `json` or `speech`: from `response_format` or `modalities` (Chat), `text.format` (Responses). */
export const ATTR_GEN_AI_OUTPUT_TYPE = 'gen_ai.output.type';
/** The Responses API's `conversation` (its id, or `conversation.id`). */
export const ATTR_GEN_AI_CONVERSATION_ID = 'gen_ai.conversation.id';
export const ATTR_GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID = 'gen_ai.request.previous_response.id';
/** Streams only: seconds from sending the serving attempt to its first chunk. */
export const ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = 'gen_ai.response.time_to_first_chunk';
/** `chat_completions` or `responses` (the pin's values); other endpoints by their own name (`embeddings`, ...). */
export const ATTR_OPENAI_API_TYPE = 'openai.api.type';
/** Only when the request names a tier other than `auto`, as the convention requires. */
export const ATTR_OPENAI_REQUEST_SERVICE_TIER = 'openai.request.service_tier';
export const ATTR_OPENAI_RESPONSE_SERVICE_TIER = 'openai.response.service_tier';
export const ATTR_OPENAI_RESPONSE_SYSTEM_FINGERPRINT = 'openai.response.system_fingerprint';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';
export const ATTR_HTTP_REQUEST_RESEND_COUNT = 'http.request.resend_count';
/** On attempt spans: `POST`, `GET`, ... */
export const ATTR_HTTP_REQUEST_METHOD = 'http.request.method';
/**
 * On attempt spans: the path with ids as placeholders (`/responses/{response_id}`).
 * `url.full` is left out on purpose: a URL can carry ids and, on proxies, credentials.
 */
export const ATTR_URL_TEMPLATE = 'url.template';

export const PROVIDER_OPENAI = 'openai';
/** `gen_ai.provider.name` of an `AzureOpenAI` client. */
export const PROVIDER_AZURE_OPENAI = 'azure.ai.openai';
/** What a value outside a closed set, or one breaking the redaction rule (redact.ts), is recorded as. */
export const OTHER = '_OTHER';

// --- Operation span (one per call) ------------------------------------------
export const ATTR_ATTEMPTS = 'retryscope.attempts';
export const ATTR_BACKOFF_TOTAL_MS = 'retryscope.backoff_total_ms';
export const ATTR_OUTCOME = 'retryscope.outcome';
export const ATTR_DEADLINE_MS = 'retryscope.deadline_ms';
/** Time the call waited in the client-side limiter's queue. */
export const ATTR_QUEUED_MS = 'retryscope.queued_ms';
/** Which hop served the call (0 = the primary); also on every attempt span. */
export const ATTR_FALLBACK_INDEX = 'retryscope.fallback_index';
export const ATTR_FALLBACK_REASON = 'retryscope.fallback_reason';
/** On `retryscope.client.finish_reasons`: one of `FINISH_REASONS`, anything else `_OTHER`. */
export const ATTR_FINISH_REASON = 'retryscope.finish_reason';
/** Chat's `finish_reason` values, the closed set the metric keeps. */
export const FINISH_REASONS = ['stop', 'length', 'content_filter', 'tool_calls', 'function_call'] as const;
/** Hops skipped unsent because their own request could not fit their model (absent when none). */
export const ATTR_HOPS_SKIPPED = 'retryscope.hops_skipped';
/** Span event on the operation span, one per skipped hop: its `retryscope.fallback_index`, model and why. */
export const EVENT_HOP_SKIPPED = 'retryscope.hop_skipped';
/** On `retryscope.hop_skipped`: the validation problem's code (`context_length_exceeded`, ...). */
export const ATTR_VALIDATION_CODE = 'retryscope.validation.code';
/** On `retryscope.hop_skipped`: the request field at fault (`messages`, `temperature`, ...). */
export const ATTR_VALIDATION_PARAM = 'retryscope.validation.param';

// --- Attempt spans (one per HTTP request) -----------------------------------
export const ATTR_ATTEMPT = 'retryscope.attempt';
/** The time from the end of the failed attempt to the start of this one, limiter included. */
export const ATTR_BACKOFF_MS = 'retryscope.backoff_ms';
/** Who set that wait: `retry-after-ms`, `retry-after`, `exponential`, `limiter`, or `none` (first attempt). */
export const ATTR_BACKOFF_SOURCE = 'retryscope.backoff_source';
export const ATTR_ERROR_CODE = 'retryscope.error.code';
export const ATTR_RETRYABLE = 'retryscope.retryable';
export const ATTR_QUOTA_EXHAUSTED = 'retryscope.quota_exhausted';
export const ATTR_REQUEST_ID = 'retryscope.request_id';
/** Why the policy retried (or refused to): a small closed set, see `ErrorCategory`. */
export const ATTR_RETRY_REASON = 'retryscope.retry_reason';
/** `retried`, `failed` or `success`: what became of this attempt. */
export const ATTR_ATTEMPT_OUTCOME = 'retryscope.attempt.outcome';
/** The server's requested wait (Retry-After), when it sent one: an integer of milliseconds. */
export const ATTR_RETRY_AFTER_MS = 'retryscope.retry_after_ms';
export const ATTR_RATELIMIT_LIMIT_REQUESTS = 'retryscope.ratelimit.limit_requests';
export const ATTR_RATELIMIT_LIMIT_TOKENS = 'retryscope.ratelimit.limit_tokens';
export const ATTR_RATELIMIT_REMAINING_REQUESTS = 'retryscope.ratelimit.remaining_requests';
export const ATTR_RATELIMIT_REMAINING_TOKENS = 'retryscope.ratelimit.remaining_tokens';
export const ATTR_RATELIMIT_RESET_REQUESTS_MS = 'retryscope.ratelimit.reset_requests_ms';
export const ATTR_RATELIMIT_RESET_TOKENS_MS = 'retryscope.ratelimit.reset_tokens_ms';

// --- Pacing, budget and breaker state (on operation spans) -------------------
export const ATTR_RETRY_BUDGET_REMAINING = 'retryscope.retry_budget.remaining';
/** True when the retry budget stopped a retry this call would otherwise have made. */
export const ATTR_RETRY_BUDGET_EXHAUSTED = 'retryscope.retry_budget.exhausted';
/** The serving upstream's breaker after the last attempt, encoded as `CIRCUIT_STATES` says. */
export const ATTR_CIRCUIT_STATE = 'retryscope.circuit.state';
/**
 * The breaker state's one encoding, on the span and the gauge: its position
 * here (0 closed, 1 half-open, 2 open).
 */
export const CIRCUIT_STATES = ['closed', 'half_open', 'open'] as const;
export type CircuitStateName = (typeof CIRCUIT_STATES)[number];
export const circuitStateValue = (state: CircuitStateName): number => CIRCUIT_STATES.indexOf(state);
/** "0 closed, 1 half-open, 2 open", for descriptions. */
export const CIRCUIT_STATES_TEXT = CIRCUIT_STATES.map((s, i) => `${i} ${s.replace('_', '-')}`).join(', ');
/** Requests/s the limiter allowed after the last attempt (absent while it knows no limit). */
export const ATTR_LIMITER_RATE = 'retryscope.limiter.rate';
export const ATTR_QUEUE_DEPTH = 'retryscope.queue.depth';
/** The limiter bucket the call was paced in: its model, or its `modelGroups` pool (never the key). */
export const ATTR_LIMITER_BUCKET = 'retryscope.limiter.bucket';
/** Which limiter paced the call: `redis` (the fleet's), `local`, or `local-fallback` (Redis did not answer in time). */
export const ATTR_LIMITER_STORE = 'retryscope.limiter.store';
/** True when the call failed fast on quota exhaustion another process saw (learned from the fleet). */
export const ATTR_QUOTA_FROM_FLEET = 'retryscope.quota_exhausted.from_fleet';

// --- Usage, cost and attribution (operation spans; usage and cost also on attempt spans) --
/** Input tokens read from the prompt cache: part of `gen_ai.usage.input_tokens`, as the conventions say. */
export const ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
/** Input tokens written to the prompt cache (`cache_write_tokens`): part of `gen_ai.usage.input_tokens`. */
export const ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = 'gen_ai.usage.cache_creation.input_tokens';
/** Reasoning tokens: part of `gen_ai.usage.output_tokens`, as the conventions say. */
export const ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = 'gen_ai.usage.reasoning.output_tokens';
/**
 * Output tokens of attempts that failed mid-stream with no usage report: an estimate from the
 * chunks received, kept apart and never added to the reported `gen_ai.usage.*` counts.
 */
export const ATTR_USAGE_ESTIMATED_OUTPUT_TOKENS = 'retryscope.usage.estimated_output_tokens';
/** What the call cost in US dollars: every attempt that reported usage, retries and fallbacks included. */
export const ATTR_COST_USD = 'retryscope.cost.usd';
/** Why a call with usage has no cost: `unknown_model` or `unpriced_tier` (never a guessed price). */
export const ATTR_COST_UNPRICED = 'retryscope.cost.unpriced';
/** Attribution tags (allow-listed, values bounded): `retryscope.tag.feature`, `retryscope.tag.tenant`, ... */
export const ATTR_TAG_PREFIX = 'retryscope.tag.';
/** On `retryscope.client.tokens`: one of `TOKEN_TYPES`. */
export const ATTR_TOKEN_TYPE = 'retryscope.token.type';
/**
 * Token types of `retryscope.client.tokens`. As OpenAI reports them, `input` includes
 * `cache_read` and `cache_creation`, and `output` includes `reasoning`: the cache-hit share is cache_read / input.
 */
export const TOKEN_TYPES = ['input', 'cache_read', 'cache_creation', 'output', 'reasoning'] as const;
/** On the budget gauges: `hour`, `day` or `month`. */
export const ATTR_BUDGET_PERIOD = 'retryscope.budget.period';
/** On the budget gauges: the tag key a per-tag budget is kept by (its value as `retryscope.tag.<key>`). */
export const ATTR_BUDGET_TAG = 'retryscope.budget.tag';
/** On `retryscope.client.ratelimit.utilization`: `requests` or `tokens`. */
export const ATTR_RATELIMIT_KIND = 'retryscope.ratelimit.kind';
/** Values of `retryscope.ratelimit.kind`: the two limits OpenAI reports in `x-ratelimit-*`. */
export const RATELIMIT_KINDS = ['requests', 'tokens'] as const;

// --- Metrics -----------------------------------------------------------------
/** Histogram, seconds. Semconv; we add `retryscope.outcome`. Its `_count` is operations by outcome. */
export const METRIC_OPERATION_DURATION = 'gen_ai.client.operation.duration';
/** Histogram, {token}, by `gen_ai.token.type` (input | output). Semconv. */
export const METRIC_TOKEN_USAGE = 'gen_ai.client.token.usage';

// With OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental (semconv.ts), inference
// operations record these instead (semantic-conventions-genai@066d4a7f, model/gen-ai/metrics.yaml
// and token-metrics.yaml); embeddings and other operations keep `gen_ai.client.operation.duration`.
/** Histogram, seconds: inference operations (chat, text_completion). Same attributes as the operation duration. */
export const METRIC_INFERENCE_DURATION = 'gen_ai.client.inference.duration';
/** Counter, {token}, by `gen_ai.token.modality`: input tokens of every inference operation (0 when none came back). */
export const METRIC_USAGE_INPUT_TOKENS = 'gen_ai.client.inference.usage.input_tokens';
/** Counter, {token}, by `gen_ai.token.modality`: output tokens, likewise. */
export const METRIC_USAGE_OUTPUT_TOKENS = 'gen_ai.client.inference.usage.output_tokens';
/** Histogram, {token}: input tokens per inference operation, `error.type` on failed ones. */
export const METRIC_OPERATION_INPUT_TOKENS = 'gen_ai.client.inference.operation.input_tokens';
/** Histogram, {token}: output tokens per inference operation, likewise. */
export const METRIC_OPERATION_OUTPUT_TOKENS = 'gen_ai.client.inference.operation.output_tokens';
/** On the usage counters. OpenAI's usage is not split by modality, so the convention's `unknown`. */
export const ATTR_GEN_AI_TOKEN_MODALITY = 'gen_ai.token.modality';
export const TOKEN_MODALITY_UNKNOWN = 'unknown';
/** Operation names the conventions call inference (the opt-in metrics' scope). */
export const INFERENCE_OPERATIONS: readonly string[] = ['chat', 'text_completion', 'generate_content'];
/** Counter, {attempt}: every HTTP attempt, by attempt outcome, `error.type`, status. */
export const METRIC_ATTEMPTS = 'retryscope.client.attempts';
/** Histogram, seconds: each backoff wait taken, by `retryscope.backoff_source` and `retryscope.retry_reason`. */
export const METRIC_BACKOFF = 'retryscope.client.backoff.duration';
/** Counter, {event}: attempts that met `insufficient_quota`. */
export const METRIC_QUOTA_EXHAUSTED = 'retryscope.client.quota_exhausted';
/** Gauge, {request}: last `x-ratelimit-remaining-requests` seen. */
export const METRIC_RATELIMIT_REMAINING_REQUESTS = 'retryscope.client.ratelimit.remaining_requests';
/** Gauge, {token}: last `x-ratelimit-remaining-tokens` seen. */
export const METRIC_RATELIMIT_REMAINING_TOKENS = 'retryscope.client.ratelimit.remaining_tokens';
/** Gauge, seconds: last `x-ratelimit-reset-requests` seen. */
export const METRIC_RATELIMIT_RESET_REQUESTS = 'retryscope.client.ratelimit.reset_requests';
/** Gauge, seconds: last `x-ratelimit-reset-tokens` seen. */
export const METRIC_RATELIMIT_RESET_TOKENS = 'retryscope.client.ratelimit.reset_tokens';
/** Histogram, seconds: time a call waited in the client-side limiter's queue. */
export const METRIC_QUEUE_DURATION = 'retryscope.client.queue.duration';
/** Counter, {call}: calls the client-side limiter refused (queue full, deadline). */
export const METRIC_LIMITER_REJECTED = 'retryscope.client.limiter.rejected';
/** Counter, {call}: calls paced locally because the Redis store did not answer in time, by bucket. */
export const METRIC_LIMITER_STORE_FALLBACKS = 'retryscope.client.limiter.store_fallbacks';
/** Gauge, {call}: calls waiting in the limiter's queue. */
export const METRIC_QUEUE_DEPTH = 'retryscope.client.queue.depth';
/** Gauge, {request}/s: the limiter's current send rate. */
export const METRIC_LIMITER_RATE = 'retryscope.client.limiter.rate';
/** Gauge, {token}: retries the retry budget still allows. */
export const METRIC_RETRY_BUDGET_REMAINING = 'retryscope.client.retry_budget.remaining';
/** Gauge: the breaker state, encoded as `CIRCUIT_STATES` says. */
export const METRIC_CIRCUIT_STATE = 'retryscope.client.circuit.state';
/** Counter, {choice}: chat answers by `retryscope.finish_reason` (`length`, `content_filter` cut them short). */
export const METRIC_FINISH_REASONS = 'retryscope.client.finish_reasons';
/** Counter, {call}: calls served by a fallback, by `retryscope.fallback_reason` and the serving model. */
export const METRIC_FALLBACKS = 'retryscope.client.fallbacks';

/** Counter, {token}: tokens by `retryscope.token.type`, model, service tier and tags (every attempt that reported usage). */
export const METRIC_TOKENS = 'retryscope.client.tokens';
/** Counter, {USD}: spend by model, service tier, attempt outcome and tags. Queried as `retryscope_client_cost_usd_total`. */
export const METRIC_COST = 'retryscope.client.cost.usd';
/** Gauge, 1: share of a model's request or token limit in use (1 - remaining / limit), by `retryscope.ratelimit.kind`. */
export const METRIC_RATELIMIT_UTILIZATION = 'retryscope.client.ratelimit.utilization';
/** Gauge, 1: share of a spend budget used in its current period, by period (and tag). */
export const METRIC_BUDGET_USED = 'retryscope.client.budget.used';
/** Gauge, {USD}: a spend budget's limit per period. */
export const METRIC_BUDGET_LIMIT = 'retryscope.client.budget.limit';
/** Gauge, 1: the share of a budget at which it warns (its soft limit). */
export const METRIC_BUDGET_SOFT_LIMIT = 'retryscope.client.budget.soft_limit';

/**
 * Bucket boundaries for `gen_ai.client.operation.duration`, from the GenAI
 * semantic conventions' advice (seconds).
 */
export const OPERATION_DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/** Bucket boundaries for `gen_ai.client.token.usage` and the per-operation token histograms, from the same advice. */
export const TOKEN_USAGE_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
/** Backoff waits run from a few ms (jitter) to a minute (Retry-After caps). */
export const BACKOFF_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
