export type {
  AttemptEvent,
  FallbackEvent,
  GiveUpEvent,
  HookCall,
  RetryEvent,
  RetryscopeHooks,
} from './hooks.ts';
export {
  type AttemptHistory,
  type AttemptSummary,
  BudgetExceededError,
  CircuitOpenError,
  ClientRateLimitError,
  getAttemptHistory,
  InvalidRequestError,
  isQuotaExhausted,
  QuotaExhaustedError,
  type SpentBudget,
} from './openai/errors.ts';
export { type ServedBy, servedByFallback } from './openai/fallback-info.ts';
export { instrument, withRetryOptions } from './openai/instrument.ts';
export {
  type BudgetSetting,
  DEFAULTS,
  type DegradeContext,
  type FallbackTarget,
  RetryscopeConfigError,
  type RetryscopeOptions,
} from './options.ts';
export type { Clock } from './policy/clock.ts';
export type { RateLimitHeadroom } from './policy/ratelimit-headers.ts';
export type {
  AttemptOutcome,
  BackoffSource,
  Classification,
  ErrorCategory,
  FailureOutcome,
  Jitter,
  Outcome,
} from './policy/types.ts';
export * as attributes from './telemetry/attributes.ts';
