import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Tests import the package by name ('retryscope', 'retryscope/telemetry') and get the sources.
  resolve: { conditions: ['retryscope-source'] },
  ssr: { resolve: { conditions: ['retryscope-source'] } },
  test: {
    // Loopback HTTP and child processes: generous bounds, no stopwatch assertions.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'default',
          include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'dashboards/**/*.test.ts'],
        },
      },
      {
        // The oldest `openai` of the peer range (devDependency `openai-oldest`), under the suites
        // that exercise the SDK through instrument(). The default project runs the newest.
        extends: true,
        resolve: { alias: [{ find: /^openai(\/.*)?$/, replacement: 'openai-oldest$1' }] },
        test: {
          name: 'openai-oldest',
          include: ['test/openai/**/*.test.ts', 'test/compat/openai-version.test.ts'],
          env: { RETRYSCOPE_OPENAI_UNDER_TEST: 'openai-oldest' },
        },
      },
    ],
  },
});
