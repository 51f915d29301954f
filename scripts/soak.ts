/**
 * Soak test (not part of CI): runs the `mixed` scenario through one
 * instrumented client for a while and reports RSS, heap and event-loop delay
 * over time. RSS must stay flat.
 *
 *   npm run soak -- --minutes 10 [--concurrency 16]
 */

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import { runWorkload } from '../src/demo/workload.ts';
import { instrument } from '../src/index.ts';
import { FALLBACK_KEY, startSimulator } from '../src/simulator/index.ts';
import { discardingTelemetry } from './lib/discarding-telemetry.ts';

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '10' }, concurrency: { type: 'string', default: '16' } },
});
const minutes = Number(values.minutes);
const concurrency = Number(values.concurrency);
if (!(minutes > 0) || !(concurrency > 0)) {
  console.error('soak: --minutes and --concurrency must be positive numbers');
  process.exit(1);
}
const durationMs = minutes * 60_000;

// Exporters that count and drop: the soak measures the client, not a backend.
const { tracerProvider, meterProvider, counts } = discardingTelemetry(5_000);

const sim = await startSimulator({
  scenario: 'mixed',
  seed: 7,
  durationMs,
  limits: { rpm: 6_000, tpm: 2_000_000 },
  acceptAnyKey: false,
  keys: { 'sk-sim-soak': {}, [FALLBACK_KEY]: { quotaTokens: Number.POSITIVE_INFINITY } },
});
const base = { baseURL: sim.url, apiKey: 'sk-sim-soak', timeout: 2_000, logLevel: 'off' as const };
const policy = {
  tracerProvider,
  meterProvider,
  maxAttempts: 4,
  deadlineMs: 12_000,
  fallbacks: [{ client: new OpenAI({ ...base, apiKey: FALLBACK_KEY }) }],
};
const main = instrument(new OpenAI(base), policy);
const revoked = instrument(new OpenAI({ ...base, apiKey: 'sk-sim-revoked' }), policy);
const resilient = instrument(new OpenAI(base), {
  ...policy,
  fallbacks: [{ model: 'gpt-4o-mini' }, ...policy.fallbacks],
});

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
const started = Date.now();
const samples: {
  minute: number;
  rssMb: number;
  heapMb: number;
  loopP50Ms: number;
  loopP99Ms: number;
  spans: number;
  phase: string;
}[] = [];
const sample = () => {
  const m = process.memoryUsage();
  samples.push({
    minute: Math.round((Date.now() - started) / 6_000) / 10,
    rssMb: Math.round(m.rss / 2 ** 20),
    heapMb: Math.round(m.heapUsed / 2 ** 20),
    loopP50Ms: Math.round(delay.percentile(50) / 1e5) / 10,
    loopP99Ms: Math.round(delay.percentile(99) / 1e5) / 10,
    spans: counts.spans,
    phase: sim.phase(),
  });
  delay.reset();
  console.log(JSON.stringify(samples.at(-1)));
};
const sampler = setInterval(sample, Math.min(30_000, durationMs / 10));

await runWorkload({
  clients: { main, revoked, resilient },
  concurrency,
  seed: 7,
  signal: new AbortController().signal,
  until: () => Date.now() - started >= durationMs,
  pauseMs: [5, 30],
  sleep: (ms) => sleep(ms),
});
clearInterval(sampler);
sample();
await tracerProvider.shutdown();
await meterProvider.shutdown();
await sim.close();

const first = samples[1] ?? samples[0]!;
const last = samples.at(-1)!;
console.log('\n| minute | RSS MB | heap MB | loop p50 ms | loop p99 ms | spans exported | phase |');
console.log('|---:|---:|---:|---:|---:|---:|---|');
for (const s of samples)
  console.log(
    `| ${s.minute} | ${s.rssMb} | ${s.heapMb} | ${s.loopP50Ms} | ${s.loopP99Ms} | ${s.spans} | ${s.phase} |`,
  );
console.log(
  `\nRSS from the second sample to the last: ${first.rssMb} → ${last.rssMb} MB (${last.rssMb - first.rssMb >= 0 ? '+' : ''}${last.rssMb - first.rssMb} MB)`,
);
