/**
 * The training loop's orchestration activities (light Postgres work; the trainer itself is on
 * task queue `trainer`). Registered by the orchestration worker next to the run activities.
 */
import type { Db } from '../../db/client';
import { createBatchActivities } from './batches';
import { createCurriculumActivities } from './curriculum';
import { createRecordActivities } from './records';

export interface TrainingActivityOptions {
  /** Handed to the trainer inside Postgres batch references (contract: PostgresBatch.dsn). */
  databaseUrl: string;
}

export function createTrainingActivities(db: Db, opts: TrainingActivityOptions) {
  return {
    ...createCurriculumActivities(db),
    ...createBatchActivities(db),
    ...createRecordActivities(db),
    async trainerBatchDsn(): Promise<string> {
      return opts.databaseUrl;
    },
  };
}

export type TrainingActivities = ReturnType<typeof createTrainingActivities>;
export type { StepBatch, RlBatchPlan, SftBatchPlan } from './batches';
export type { EvalReport } from './records';
