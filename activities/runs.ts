/**
 * Run bookkeeping activities: the rows that let `swerl status`, the trajectory viewer and SQL see
 * what a run did. Each write is keyed by (run), (run, stage) or (run, stage, iteration) and is an
 * upsert, so a retried activity — after a worker or Postgres restart — writes the same row once.
 */
import { eq, sql } from 'drizzle-orm';
import type { RunConfig, StageConfig } from '../core/config';
import type { Db } from '../db/client';
import { toDbError } from '../db/client';
import { setRunStatus, upsertRun } from '../db/runs';
import { iterations, runs, stages } from '../db/schema';
import { toTemporalFailure } from '../core/errors';

export interface RunStartedInput {
  runId: string;
  workflowId: string;
  name: string;
  config: RunConfig;
}

export interface StageStateInput {
  runId: string;
  stageIndex: number;
  name: string;
  kind: StageConfig['kind'];
  state: 'running' | 'done';
}

export interface IterationInput {
  runId: string;
  stage: string;
  iteration: number;
  policyVersion: string;
}

export interface RunFinishedInput {
  runId: string;
  status: 'completed' | 'aborted' | 'failed';
  reason?: string;
}

/** Maps transient Postgres failures to retryable SWERL_DB_UNAVAILABLE, other SwerlErrors to their codes. */
async function guarded<T>(doing: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toTemporalFailure(toDbError(err, doing));
  }
}

export function createRunActivities(db: Db) {
  return {
    async recordRunStarted(input: RunStartedInput): Promise<void> {
      await guarded(`recording run ${input.runId}`, async () => {
        await upsertRun(db, { id: input.runId, workflowId: input.workflowId, name: input.name, config: input.config as unknown as Record<string, unknown> });
        await setRunStatus(db, input.runId, 'running');
      });
    },

    async recordStageState(input: StageStateInput): Promise<void> {
      const status = input.state === 'done' ? 'completed' : 'running';
      await guarded(`recording stage ${input.runId}/${input.name}`, async () => {
        await db
          .insert(stages)
          .values({ runId: input.runId, name: input.name, idx: input.stageIndex, kind: input.kind, status, startedAt: new Date() })
          .onConflictDoUpdate({
            target: [stages.runId, stages.name],
            set: {
              status,
              finishedAt: input.state === 'done' ? sql`coalesce(${stages.finishedAt}, now())` : stages.finishedAt,
            },
          });
        await db.update(runs).set({ currentStage: input.name }).where(eq(runs.id, input.runId));
      });
    },

    async recordIteration(input: IterationInput): Promise<void> {
      await guarded(`recording iteration ${input.runId}/${input.stage}/${input.iteration}`, () =>
        db
          .insert(iterations)
          .values({
            runId: input.runId,
            stage: input.stage,
            idx: input.iteration,
            status: 'completed',
            policyVersion: input.policyVersion,
            finishedAt: new Date(),
          })
          .onConflictDoNothing({ target: [iterations.runId, iterations.stage, iterations.idx] }),
      );
    },

    async recordRunFinished(input: RunFinishedInput): Promise<void> {
      await guarded(`finishing run ${input.runId}`, () => setRunStatus(db, input.runId, input.status));
    },

    async recordRunPhase(input: { runId: string; status: 'running' | 'paused' }): Promise<void> {
      await guarded(`updating run ${input.runId}`, () => setRunStatus(db, input.runId, input.status));
    },
  };
}

export type RunActivities = ReturnType<typeof createRunActivities>;
