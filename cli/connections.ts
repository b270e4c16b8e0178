/**
 * The CLI's short-lived connections: one Temporal client or one database pool per command, closed
 * when the command's work is done, whatever it threw.
 */
import type { Client } from '@temporalio/client';
import { createDb, type DbHandle } from '../db/client';

export type { DbHandle };
import { migrateDatabase } from '../db/migrate';
import { connectClient, resolveEndpoints } from '../workers/endpoints';

export async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(resolveEndpoints());
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

/** `migrate`: bring the schema up to date first (commands that write); readers skip it. */
export async function withDb<T>(fn: (db: DbHandle) => Promise<T>, opts: { migrate?: boolean } = {}): Promise<T> {
  const { databaseUrl } = resolveEndpoints();
  if (opts.migrate) await migrateDatabase(databaseUrl);
  const db = createDb(databaseUrl);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}
