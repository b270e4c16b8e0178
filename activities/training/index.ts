/**
 * The training loop's orchestration activities (light Postgres work; the trainer itself is on
 * task queue `trainer`). Registered by the orchestration worker next to the run activities.
 */
import type { Db } from '../../db/client';
import { createBatchActivities } from './batches';
import { createCurriculumActivities } from './curriculum';
import { createRecordActivities } from './records';

export interface TrainingActivityOptions {
  /** Fallback for the DSN handed to the trainer in Postgres batch references (PostgresBatch.dsn). */
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
    async trainerBatchDsn(): Promise<string> {
      return dsnOf(db, opts.databaseUrl);
    },
  };
}

export type TrainingActivities = ReturnType<typeof createTrainingActivities>;
export type { StepBatch, RlBatchPlan, SftBatchPlan } from './batches';
export type { EvalReport } from './records';
