/**
 * The one error boundary of the training activities: transient Postgres failures become
 * retryable SWERL_DB_UNAVAILABLE, every SwerlError crosses into Temporal typed by its code.
 */
import { toTemporalFailure } from '../../core/errors';
import { toDbError } from '../../db/client';

export async function guarded<T>(doing: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toTemporalFailure(toDbError(err, doing));
  }
}
