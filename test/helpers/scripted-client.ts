import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { instrument, type RetryscopeOptions } from '../../src/index.ts';
import { fakeClock } from './fake-clock.ts';
import { createTestTelemetry } from './otel.ts';
import { ScriptedServer } from './scripted-server.ts';

/**
 * One test file's scripted loopback server and in-memory telemetry (started, closed and reset
 * around its tests), and instrumented clients on them with a fake clock, all with `apiKey`.
 */
export function scriptedClients(defaults: RetryscopeOptions = {}, apiKey = 'sk-scripted') {
  const t = createTestTelemetry();
  let server: ScriptedServer | undefined;
  beforeAll(async () => {
    server = await new ScriptedServer().start();
  });
  afterAll(() => server?.close());
  beforeEach(() => t.reset());
  return {
    t,
    get server(): ScriptedServer {
      return server!;
    },
    /** A plain SDK client on the server, not instrumented. */
    raw: () => new OpenAI({ baseURL: server!.url, apiKey }),
    client: (options: RetryscopeOptions = {}) =>
      instrument(new OpenAI({ baseURL: server!.url, apiKey }), {
        tracerProvider: t.tracerProvider,
        meterProvider: t.meterProvider,
        clock: fakeClock().clock,
        ...defaults,
        ...options,
      }),
  };
}
