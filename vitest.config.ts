import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Marks this run's Redis namespaces and fails the run if any keys are left behind.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Tests against real Redis and real subprocesses: a few files at a time on 2 cores.
    maxWorkers: 3,
  },
});
