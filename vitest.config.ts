import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'dashboards/**/*.test.ts'],
    // Loopback HTTP and child processes: generous bounds, no stopwatch assertions.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
