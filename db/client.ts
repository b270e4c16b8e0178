/**
 * The one way to open the database. Activities must tell "Postgres is down or restarting" (infra:
 * Temporal retries it) from "this query is wrong" (a bug or bad input: retrying does not help), so
 * this module owns that classification: `isTransientDbError` and `toDbError`.
 */
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { DbError, ErrorCodes, SwerlError } from '../core/errors';
import * as schema from './schema';

export type Db = NodePgDatabase<typeof schema>;

export interface DbHandle {
  db: Db;
  pool: pg.Pool;
  close(): Promise<void>;
}

export interface CreateDbOptions {
  /** Pool size; each worker process needs only a few connections. */
  max?: number;
  /** Shown in pg_stat_activity, which is where one looks when connections pile up. */
  applicationName?: string;
  /** Give up on a connection attempt after this long instead of hanging an activity. */
  connectTimeoutMs?: number;
}

/**
 * Opens a lazy pool: nothing connects until the first query, so constructing it never fails for
 * a down server; the first query does, and `toDbError` turns that into SWERL_DB_UNAVAILABLE.
 */
export function createDb(url: string, options: CreateDbOptions = {}): DbHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 5,
    application_name: options.applicationName ?? 'swerl',
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
  });
  // An idle client whose server goes away emits 'error' on the pool; unhandled, that kills the
  // process. The pool already discards the client, and the next query reports the outage.
  pool.on('error', () => {});
  const db = drizzle(pool, { schema });
  let closing: Promise<void> | undefined;
  return {
    db,
    pool,
    close: () => (closing ??= pool.end()),
  };
}

/** SQLSTATE classes/codes that mean the server is unreachable, restarting or overloaded. */
const TRANSIENT_SQLSTATES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up / recovering)
  '53300', // too_many_connections
  '40001', // serialization_failure: the transaction may simply be retried
  '40P01', // deadlock_detected: idem
]);

/** Node socket errors that mean the connection, not the query, failed. */
const TRANSIENT_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/** pg raises these as plain Errors without a code. */
const TRANSIENT_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Cannot use a pool after calling end',
];

function isTransientOne(err: object): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_SOCKET_CODES.has(code)) return true;
    // Class 08: connection_exception and its subcodes.
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  const message = (err as { message?: unknown }).message;
  return typeof message === 'string' && TRANSIENT_MESSAGES.some((m) => message.includes(m));
}

/**
 * True when the error means Postgres was unavailable rather than the statement being wrong.
 * Walks `cause` (drizzle wraps driver errors in DrizzleQueryError) and `errors` (Node reports a
 * refused dual-stack connect as an AggregateError).
 */
export function isTransientDbError(err: unknown): boolean {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0) {
    const cur = queue.shift();
    if (!cur || typeof cur !== 'object' || seen.has(cur)) continue;
    seen.add(cur);
    if (isTransientOne(cur)) return true;
    queue.push((cur as { cause?: unknown }).cause);
    const nested = (cur as { errors?: unknown }).errors;
    if (Array.isArray(nested)) queue.push(...nested);
  }
  return false;
}

/** The database URL with its password masked, for error messages and logs. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable database url)';
  }
}

/**
 * Wraps a transient failure as DbError(SWERL_DB_UNAVAILABLE) naming what was being done, so that
 * it crosses into Temporal as a retryable failure; any other error is returned unchanged.
 */
export function toDbError(err: unknown, doing: string, url?: string): unknown {
  // A coded error already says what failed (a policy server's ECONNREFUSED is SWERL_POLICY_UNAVAILABLE,
  // not a database outage): only uncoded driver errors are mapped.
  if (err instanceof SwerlError || !isTransientDbError(err)) return err;
  const where = url ? ` at ${redactDatabaseUrl(url)}` : '';
  const reason = rootCauseMessage(err);
  return new DbError(ErrorCodes.DB_UNAVAILABLE, `database unavailable${where} while ${doing}: ${reason}`, { doing }, { cause: err });
}

/** The innermost cause's message (drizzle's wrapper repeats the whole query), with its code. */
export function rootCauseMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  let cur: unknown = err;
  for (let depth = 0; depth < 8; depth++) {
    const next = (cur as { cause?: unknown }).cause;
    if (!(next instanceof Error)) break;
    cur = next;
  }
  const root = cur as Error & { code?: string };
  if (root.message) return root.code ? `${root.message} (${root.code})` : root.message;
  // AggregateError from a refused dual-stack connect has an empty message of its own.
  return root.code ?? root.name;
}
