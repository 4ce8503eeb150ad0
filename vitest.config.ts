import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Suites switch the global tfjs backend: keep each file in its own process, one at a time per worker.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
