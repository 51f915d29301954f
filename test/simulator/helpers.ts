/** Shared bits for the simulator tests: a fake clock, raw requests, SDK clients. */
import OpenAI from 'openai';
import { afterEach } from 'vitest';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/simulator/index.ts';

export class FakeClock {
  #now: number;
  constructor(start = 1_000_000) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

const open: Simulator[] = [];

/** Starts a simulator that is closed after the current test. */
export async function simulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator({ scenario: 'steady', ...options });
  open.push(sim);
  return sim;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((sim) => sim.close()));
});

export function client(sim: Simulator, options: { apiKey?: string; timeout?: number } = {}): OpenAI {
  return new OpenAI({
    baseURL: sim.url,
    apiKey: options.apiKey ?? 'sk-sim',
    maxRetries: 0,
    // The malformed-stream tests make the SDK log parse failures; they are expected.
    logLevel: 'off',
    ...(options.timeout ? { timeout: options.timeout } : {}),
  });
}

export const CHAT: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello.' }],
};

/** A raw POST, for looking at headers and bodies exactly as sent. */
export function post(
  sim: Simulator,
  path: string,
  body: unknown,
  key: string | null = 'sk-sim',
): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  return fetch(`${sim.url}${path}`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export function get(sim: Simulator, path: string, key = 'sk-sim'): Promise<Response> {
  return fetch(`${sim.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
}

/** Status of a raw chat request, or `reset` when the connection was cut. */
export async function statusOf(
  sim: Simulator,
  body: unknown = CHAT,
  key = 'sk-sim',
): Promise<number | 'reset'> {
  try {
    const response = await post(sim, '/chat/completions', body, key);
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 'reset';
  }
}
