import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 10_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/faults/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          globalSetup: ['test/harness/globalSetup.ts'],
          // Integration tests share one real stack (Temporal, Postgres, Docker); run files one at a time.
          fileParallelism: false,
        },
      },
      {
        // The compose deployment built, brought up and run (`npm run test:cluster`), not in scripts/test.sh:
        // its first build compiles the Temporal server and the compose CLI from their Go modules.
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          testTimeout: 100 * 60_000,
          hookTimeout: 10 * 60_000,
          fileParallelism: false,
        },
      },
      {
        // Several rollout host processes on the real Temporal server (`npm run test:hosts`, which brings
        // that server up), not in scripts/test.sh: its first run builds the server from its Go module.
        test: {
          name: 'hosts',
          include: ['test/hosts/**/*.test.ts'],
          testTimeout: 30 * 60_000,
          hookTimeout: 10 * 60_000,
          globalSetup: ['test/harness/globalSetup.ts'],
          fileParallelism: false,
        },
      },
      {
        // The real Temporal server's own mutual TLS (`npm run test:temporal-tls`), not in scripts/test.sh:
        // the server is built from its Go module the first time. The test runs its own private stack.
        test: {
          name: 'temporal-server',
          include: ['test/temporal-server/**/*.test.ts'],
          testTimeout: 30 * 60_000,
          hookTimeout: 30 * 60_000,
          globalSetup: ['test/harness/globalSetup.ts'],
          fileParallelism: false,
        },
      },
      {
        // The operator console in real Chromium against a live run: `npm run test:console`, not in scripts/test.sh.
        test: {
          name: 'console',
          include: ['test/console/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 300_000,
          globalSetup: ['test/harness/globalSetup.ts'],
          fileParallelism: false,
        },
      },
    ],
  },
});
