import type OpenAI from 'openai';
import { withRetryOptions } from '../index.ts';
import { mulberry32 } from '../simulator/random.ts';

/** The product feature a call serves: its `feature` tag, so spend and tokens split by it. */
export type Feature = 'assistant' | 'summaries' | 'search' | 'indexing';

/** One kind of call the demo makes, with its share of the traffic. */
interface Job {
  name: JobName;
  weight: number;
  feature: Feature;
  run(clients: DemoClients, signal: AbortSignal): Promise<unknown>;
}

export interface DemoClients {
  /** The instrumented client everything goes through. */
  main: OpenAI;
  /** The same, with a key the server does not know: its calls fail for good (401). */
  revoked: OpenAI;
  /** With fallbacks: another model on the same key, then a key with quota left. */
  resilient: OpenAI;
}

export type JobName =
  | 'chat'
  | 'chat stream'
  | 'chat gpt-4o with fallbacks'
  | 'responses'
  | 'responses stream'
  | 'embeddings'
  | 'invalid request'
  | 'revoked key';

const messages = (text: string) => [{ role: 'user' as const, content: text }];

const JOBS: Job[] = [
  {
    name: 'chat',
    feature: 'assistant',
    weight: 40,
    run: ({ main }, signal) =>
      main.chat.completions.create(
        { model: 'gpt-4o-mini', messages: messages('Name a colour.'), max_tokens: 16 },
        { signal },
      ),
  },
  {
    name: 'chat stream',
    feature: 'assistant',
    weight: 20,
    run: async ({ main }, signal) => {
      const stream = await main.chat.completions.create(
        {
          model: 'gpt-4o-mini',
          messages: messages('Count to five.'),
          max_tokens: 24,
          stream: true,
          stream_options: { include_usage: true },
        },
        { signal },
      );
      for await (const _ of stream) {
      }
    },
  },
  {
    name: 'chat gpt-4o with fallbacks',
    feature: 'summaries',
    // Enough gpt-4o calls in a short outage to trip its circuit breaker (20 calls in 10 s).
    weight: 12,
    run: ({ resilient }, signal) =>
      resilient.chat.completions.create(
        { model: 'gpt-4o', messages: messages('Summarise.'), max_tokens: 16 },
        { signal },
      ),
  },
  {
    name: 'responses',
    feature: 'search',
    weight: 10,
    run: ({ main }, signal) =>
      main.responses.create(
        { model: 'gpt-4o-mini', input: 'One word, please.', max_output_tokens: 16 },
        { signal },
      ),
  },
  {
    name: 'responses stream',
    feature: 'search',
    weight: 6,
    // A reasoning model: part of its output is reasoning tokens, so every token type has data.
    run: async ({ main }, signal) => {
      const stream = await main.responses.create(
        { model: 'o4-mini', input: 'Two words.', max_output_tokens: 16, stream: true },
        { signal },
      );
      for await (const _ of stream) {
      }
    },
  },
  {
    name: 'embeddings',
    feature: 'indexing',
    weight: 12,
    run: ({ main }, signal) =>
      main.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'] }, { signal }),
  },
  {
    name: 'invalid request',
    feature: 'assistant',
    weight: 3,
    // Out of range: refused before sending when pre-flight validation is on, a 400 from the server otherwise.
    run: ({ main }, signal) =>
      main.chat.completions.create(
        { model: 'gpt-4o-mini', messages: messages('hi'), temperature: 3, max_tokens: 8 },
        { signal },
      ),
  },
  {
    name: 'revoked key',
    feature: 'assistant',
    weight: 3,
    run: ({ revoked }, signal) =>
      revoked.chat.completions.create(
        { model: 'gpt-4o-mini', messages: messages('hi'), max_tokens: 8 },
        { signal },
      ),
  },
];

const tagged = new WeakMap<DemoClients, Map<Feature, DemoClients>>();

/**
 * The clients with the job's `feature` tag, made once per feature: `withRetryOptions` siblings
 * share telemetry, pacing and the tag-value cap. The allow-list comes along, so any client set works.
 */
function clientsFor(clients: DemoClients, feature: Feature): DemoClients {
  let byFeature = tagged.get(clients);
  if (!byFeature) {
    byFeature = new Map();
    tagged.set(clients, byFeature);
  }
  let found = byFeature.get(feature);
  if (!found) {
    const tag = (c: OpenAI) => withRetryOptions(c, { tagKeys: ['feature'], tags: { feature } });
    found = { main: tag(clients.main), revoked: tag(clients.revoked), resilient: tag(clients.resilient) };
    byFeature.set(feature, found);
  }
  return found;
}

/** Makes one call of this job, tagged with its feature. */
const runJob = (job: Job, clients: DemoClients, signal: AbortSignal) =>
  job.run(clientsFor(clients, job.feature), signal);

const TOTAL_WEIGHT = JOBS.reduce((sum, job) => sum + job.weight, 0);

export function pickJob(random: () => number): Job {
  let roll = random() * TOTAL_WEIGHT;
  for (const job of JOBS) {
    roll -= job.weight;
    if (roll < 0) return job;
  }
  return JOBS[0]!;
}

export function jobNamed(name: JobName): Job {
  return JOBS.find((job) => job.name === name)!;
}

/**
 * Makes the planned calls, each no earlier than its `atMs` after the start,
 * with at most `concurrency` in flight, and resolves when every one has
 * finished (or `signal` aborts). A caller that falls behind starts its next
 * call late rather than skipping it: the plan, not the machine, says what
 * is sent.
 */
export async function runCalls(options: {
  clients: DemoClients;
  calls: readonly { job: JobName; atMs: number }[];
  concurrency: number;
  signal: AbortSignal;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}): Promise<void> {
  const { clients, calls, concurrency, signal, now, sleep } = options;
  const startedAt = now();
  let next = 0;
  const worker = async () => {
    while (!signal.aborted && next < calls.length) {
      const call = calls[next++]!;
      const wait = startedAt + call.atMs - now();
      if (wait > 0) await sleep(wait);
      if (signal.aborted) return;
      await runJob(jobNamed(call.job), clients, signal).catch(() => {});
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, calls.length) }, worker));
}

/**
 * Runs `concurrency` workers until `until()` says stop. Each makes one call
 * at a time with a short pause between, as a service handling requests would.
 * Errors are the point of the demo: they are recorded by telemetry, not here.
 */
export async function runWorkload(options: {
  clients: DemoClients;
  concurrency: number;
  seed: number;
  signal: AbortSignal;
  until: () => boolean;
  pauseMs: [number, number];
  sleep: (ms: number) => Promise<void>;
}): Promise<void> {
  const { clients, concurrency, seed, signal, until, pauseMs, sleep } = options;
  const worker = async (index: number) => {
    const random = mulberry32(seed * 1000 + index);
    while (!signal.aborted && !until()) {
      const job = pickJob(random);
      await runJob(job, clients, signal).catch(() => {});
      await sleep(pauseMs[0] + random() * (pauseMs[1] - pauseMs[0]));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
}
