/**
 * The four clients compared. Plain arms are the `openai` SDK as it ships
 * (only `maxRetries` set); retryscope arms wrap a fresh SDK client with
 * `instrument()` and the global OpenTelemetry API, with no SDK registered,
 * so telemetry is the API's no-op and costs what it costs in a service
 * that has not set up OpenTelemetry.
 */
import OpenAI from 'openai';
import { instrument, type RetryscopeOptions } from '../../src/index.ts';
import type { BenchConfig } from './config.ts';

export interface Arm {
  id: string;
  label: string;
  kind: 'plain' | 'retryscope';
  /** The settings, as the report prints them. */
  settings(config: BenchConfig): string;
  /** A fresh client (fresh limiter, budget and breaker) for one arm-run. */
  create(baseURL: string, config: BenchConfig): OpenAI;
}

export const API_KEY = 'sk-bench';

function sdk(baseURL: string, maxRetries?: number): OpenAI {
  return new OpenAI({ baseURL, apiKey: API_KEY, ...(maxRetries === undefined ? {} : { maxRetries }) });
}

export function retryscopeOptions(config: BenchConfig, extra: RetryscopeOptions = {}): RetryscopeOptions {
  return { deadlineMs: config.deadlineMs, maxAttempts: config.maxAttempts, ...extra };
}

export const ARMS: readonly Arm[] = [
  {
    id: 'openai-r2',
    label: 'openai, maxRetries 2 (default)',
    kind: 'plain',
    settings: () =>
      '`new OpenAI({ maxRetries: 2 })`: the SDK default; every other option left at its default',
    create: (baseURL) => sdk(baseURL, 2),
  },
  {
    id: 'openai-r5',
    label: 'openai, maxRetries 5',
    kind: 'plain',
    settings: () => '`new OpenAI({ maxRetries: 5 })`; every other option left at its default',
    create: (baseURL) => sdk(baseURL, 5),
  },
  {
    id: 'rs-nolimiter',
    label: 'retryscope, limiter off',
    kind: 'retryscope',
    settings: (c) =>
      `\`instrument(new OpenAI(), { limiter: false, deadlineMs: ${c.deadlineMs}, maxAttempts: ${c.maxAttempts} })\`; retry budget, circuit breaker, validation and backoff at their defaults`,
    create: (baseURL, c) => instrument(sdk(baseURL), retryscopeOptions(c, { limiter: false })),
  },
  {
    id: 'rs-default',
    label: 'retryscope, defaults',
    kind: 'retryscope',
    settings: (c) =>
      `\`instrument(new OpenAI(), { deadlineMs: ${c.deadlineMs}, maxAttempts: ${c.maxAttempts} })\`; limiter, retry budget, circuit breaker, validation and backoff at their defaults`,
    create: (baseURL, c) => instrument(sdk(baseURL), retryscopeOptions(c)),
  },
];

export const ARM_IDS = ARMS.map((a) => a.id);

export function arms(config: BenchConfig): Arm[] {
  return ARMS.filter((a) => !config.arms || config.arms.includes(a.id));
}
