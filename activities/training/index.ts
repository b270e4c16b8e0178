/**
 * The training loop's orchestration activities (light Postgres work; the trainer itself is on
 * task queue `trainer`). Registered by the orchestration worker next to the run activities.
 */
import { ConfigError, ErrorCodes, toTemporalFailure } from '../../core/errors';
import type { Db } from '../../db/client';
import { createBatchActivities } from './batches';
import { createCurriculumActivities } from './curriculum';
import { createRecordActivities } from './records';
import { createSlotActivities } from './slots';

export interface TrainingActivityOptions {
  /** Fallback when the pool does not expose its DSN: the database the trainer's batches name. */
  databaseUrl: string;
}

/** The trainer must read the very database these activities write: take the pool's own DSN. */
function dsnOf(db: Db, fallback: string): string {
  const client = (db as unknown as { $client?: { options?: { connectionString?: string } } }).$client;
  return client?.options?.connectionString ?? fallback;
}

export function createTrainingActivities(db: Db, opts: TrainingActivityOptions) {
  return {
    ...createCurriculumActivities(db),
    ...createBatchActivities(db),
    ...createRecordActivities(db),
    ...createSlotActivities(db),
    /**
     * Only for histories recorded before the swerl-batch-ref-no-dsn patch (their replay and
     * retries call it): it puts the password into history. New code uses trainerBatchDatabase.
     */
    async trainerBatchDsn(): Promise<string> {
      return dsnOf(db, opts.databaseUrl);
    },
    /** The name of the database these activities write, for PostgresBatch.database: no host, no credentials. */
    async trainerBatchDatabase(): Promise<string> {
      const name = decodeURIComponent(new URL(dsnOf(db, opts.databaseUrl)).pathname.replace(/^\//, ''));
      if (!name) throw toTemporalFailure(new ConfigError(ErrorCodes.CONFIG_INVALID, 'the database URL names no database: the trainer could not find the batches', {}));
      return name;
    },
  };
}

export type TrainingActivities = ReturnType<typeof createTrainingActivities>;
export type { StepBatch, RlBatchPlan, SftBatchPlan } from './batches';
export type { EvalReport } from './records';
export type { ShardCounts, SlotSource, RlBatchSummary, SftBatchSummary } from './slots';
