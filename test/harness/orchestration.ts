/**
 * A private orchestration worker for one test file: its own database (migrated by the code under
 * test) and its own task queue, on the shared Temporal dev server.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { createDb, type DbHandle } from '../../db/client';
import { connectClient } from '../../workers/endpoints';
import { installTemporalLogging } from '../../workers/logging';
import { createOrchestrationWorker } from '../../workers/orchestration';
import { createTestDatabase } from './db';
import { testEndpoints } from './stack';

export interface OrchestrationHarness {
  client: Client;
  db: DbHandle;
  taskQueue: string;
  /** Starts a worker; the previous one (if any) must have been stopped. */
  startWorker(): Promise<Worker>;
  stopWorker(): Promise<void>;
  close(): Promise<void>;
}

export async function orchestrationHarness(prefix: string): Promise<OrchestrationHarness> {
  installTemporalLogging('warn');
  const endpoints = testEndpoints();
  const database = await createTestDatabase(prefix);
  const db = createDb(database.url);
  const client = await connectClient(endpoints);
  const taskQueue = `test-${prefix}-${randomUUID().slice(0, 8)}`;
  let running: { worker: Worker; connection: NativeConnection; done: Promise<void> } | undefined;

  const stopWorker = async () => {
    if (!running) return;
    const r = running;
    running = undefined;
    if (r.worker.getState() === 'RUNNING') r.worker.shutdown();
    await r.done.catch(() => {});
    await r.connection.close().catch(() => {});
  };

  return {
    client,
    db,
    taskQueue,
    async startWorker() {
      if (running) throw new Error('a worker is already running in this harness');
      const { worker, connection } = await createOrchestrationWorker({ endpoints, db: db.db, taskQueue });
      running = { worker, connection, done: worker.run() };
      return worker;
    },
    stopWorker,
    async close() {
      await stopWorker();
      await client.connection.close();
      await db.close();
      await database.drop();
    },
  };
}
