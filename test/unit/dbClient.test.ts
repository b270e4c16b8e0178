/**
 * The classification activities rely on: an outage is retried as infra, a wrong statement is not.
 * Error shapes are the ones pg, Node and drizzle actually produce (SQLSTATE on `code`, socket
 * errors with errno codes, AggregateError for dual-stack connects, DrizzleQueryError wrapping).
 */
import { describe, expect, it } from 'vitest';
import { DbError, ErrorCodes, PolicyError } from '../../core/errors';
import { isTransientDbError, redactDatabaseUrl, rootCauseMessage, toDbError } from '../../db/client';
import { databaseNameOf } from '../../db/migrate';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isTransientDbError', () => {
  it.each([
    ['57P01 admin_shutdown', withCode('57P01')],
    ['57P03 cannot_connect_now', withCode('57P03')],
    ['08006 connection_failure', withCode('08006')],
    ['53300 too_many_connections', withCode('53300')],
    ['40001 serialization_failure', withCode('40001')],
    ['ECONNREFUSED', withCode('ECONNREFUSED')],
    ['ECONNRESET', withCode('ECONNRESET')],
    ['pg: connection terminated', new Error('Connection terminated unexpectedly')],
    ['pool: connect timeout', new Error('timeout exceeded when trying to connect')],
  ])('%s is transient', (_name, err) => {
    expect(isTransientDbError(err)).toBe(true);
  });

  it.each([
    ['23505 unique_violation', withCode('23505')],
    ['42601 syntax_error', withCode('42601')],
    ['42P01 undefined_table', withCode('42P01')],
    ['23001 restrict_violation (append-only turns)', withCode('23001')],
    ['plain error', new Error('boom')],
    ['a string', 'ECONNREFUSED'],
    ['undefined', undefined],
  ])('%s is not transient', (_name, err) => {
    expect(isTransientDbError(err)).toBe(false);
  });

  it('looks through drizzle wrapping (cause) and AggregateError (errors)', () => {
    const wrapped = new Error('Failed query: select 1', { cause: withCode('57P01', 'terminating connection') });
    expect(isTransientDbError(wrapped)).toBe(true);
    const dualStack = new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')], '');
    expect(isTransientDbError(dualStack)).toBe(true);
    expect(isTransientDbError(new Error('Failed query', { cause: withCode('23505') }))).toBe(false);
  });

  it('does not loop on a cyclic cause chain', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(isTransientDbError(a)).toBe(false);
  });
});

describe('toDbError', () => {
  it('wraps an outage as retryable SWERL_DB_UNAVAILABLE naming the action and server, password masked', () => {
    const cause = new Error('Failed query: insert into turns', { cause: withCode('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.5:5432') });
    const err = toDbError(cause, 'appending turn 3 of episode e1', 'postgres://swerl:s3cret@10.0.0.5:5432/swerl');
    expect(err).toBeInstanceOf(DbError);
    const dbErr = err as DbError;
    expect(dbErr.code).toBe(ErrorCodes.DB_UNAVAILABLE);
    expect(dbErr.retryable).toBe(true);
    expect(dbErr.message).toBe(
      'SWERL_DB_UNAVAILABLE: database unavailable at postgres://swerl:***@10.0.0.5:5432/swerl while appending turn 3 of episode e1: connect ECONNREFUSED 10.0.0.5:5432 (ECONNREFUSED)',
    );
    expect(dbErr.cause).toBe(cause);
  });

  it('returns other errors unchanged', () => {
    const bug = withCode('42601');
    expect(toDbError(bug, 'x')).toBe(bug);
  });

  it('keeps a coded error whose cause is a refused connection (a policy server down is not a database outage)', () => {
    const policyDown = new PolicyError(ErrorCodes.POLICY_UNAVAILABLE, 'policy server http://127.0.0.1:1: connect ECONNREFUSED', {}, { cause: withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1') });
    expect(isTransientDbError(policyDown)).toBe(true);
    expect(toDbError(policyDown, 'turns 0.. of e1')).toBe(policyDown);
  });
});

describe('url helpers', () => {
  it('redacts only the password', () => {
    expect(redactDatabaseUrl('postgres://u:p@h:5433/db?sslmode=disable')).toBe('postgres://u:***@h:5433/db?sslmode=disable');
    expect(redactDatabaseUrl('postgres://u@h/db')).toBe('postgres://u@h/db');
    expect(redactDatabaseUrl('not a url')).toBe('(unparseable database url)');
  });

  it('reads the database name, refusing urls without one', () => {
    expect(databaseNameOf('postgres://u@h:5433/swerl_test_a')).toBe('swerl_test_a');
    expect(databaseNameOf('postgres://u@h/my%20db')).toBe('my db');
    expect(() => databaseNameOf('postgres://u@h:5433')).toThrow(/names no database/);
  });

  it('reports the innermost cause with its code', () => {
    const err = new Error('Failed query: select', { cause: withCode('57P01', 'terminating connection due to administrator command') });
    expect(rootCauseMessage(err)).toBe('terminating connection due to administrator command (57P01)');
  });
});
