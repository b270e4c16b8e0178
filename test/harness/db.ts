/**
 * One fresh, migrated database per integration test file, on the server the globalSetup started
 * (SWERL_DATABASE_URL). Files never see each other's rows, and the schema comes from the same
 * migrateDatabase the product runs, so the tests also exercise the migrations.
 */
import { randomBytes } from 'node:crypto';
import { dropDatabase, migrateDatabase } from '../../db/migrate';

export interface TestDatabase {
  url: string;
  /** Drops the database, disconnecting any sessions still open on it. */
  drop(): Promise<void>;
}

export function testServerUrl(): string {
  const url = process.env.SWERL_DATABASE_URL;
  if (!url) {
    throw new Error('SWERL_DATABASE_URL is not set: run integration tests through vitest (its globalSetup starts Postgres) or set it to a server you own');
  }
  return url;
}

/** A database name unique across test files and processes; Postgres folds unquoted names, so keep it lowercase. */
export function testDatabaseUrl(prefix: string): string {
  const safe = prefix.toLowerCase().replace(/[^a-z0-9_]+/g, '_').slice(0, 30);
  const url = new URL(testServerUrl());
  url.pathname = `/swerl_test_${safe}_${process.pid}_${randomBytes(4).toString('hex')}`;
  return url.toString();
}

export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const url = testDatabaseUrl(prefix);
  await migrateDatabase(url);
  return { url, drop: () => dropDatabase(url) };
}
