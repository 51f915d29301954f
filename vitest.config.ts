import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Tests import the package by name ('retryscope', 'retryscope/telemetry') and get the sources.
  resolve: { conditions: ['retryscope-source'] },
  ssr: { resolve: { conditions: ['retryscope-source'] } },
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'dashboards/**/*.test.ts'],
    // Loopback HTTP and child processes: generous bounds, no stopwatch assertions.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
