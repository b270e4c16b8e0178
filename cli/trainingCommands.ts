/**
 * Training-loop verbs: `promote` (the human decision at a stage boundary, sent as the run's
 * `promote` Update so the run's validator decides), `eval` (stored Pass@1 ± SEM and Pass@k of a
 * checkpoint) and `checkpoints` (a run's checkpoint lineage). Register with
 * registerTrainingCommands(program).
 */
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { asc, eq } from 'drizzle-orm';
import { ErrorCodes, RunError } from '../core/errors';
import type { Db } from '../db/client';
import { checkpoints, evals } from '../db/schema';
import { promoteUpdate, type PromoteRequest, type PromoteResult } from '../workflows/definitions';
import { withClient, withDb } from './connections';
import { operatorName, runHandle } from './runs';

/**
 * Sends the promote Update. A rejection by the run's validator becomes a RunError
 * SWERL_PROMOTE_REJECTED whose details carry the validator's reason (not-at-boundary,
 * checkpoint-missing, gate-unmet, reason-missing).
 */
export async function promoteRun(client: Client, runId: string, req: PromoteRequest): Promise<PromoteResult> {
  try {
    return await runHandle(client, runId).executeUpdate(promoteUpdate, { args: [req] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
      const details = (err.cause.details?.[0] ?? {}) as Record<string, unknown>;
      throw new RunError(ErrorCodes.PROMOTE_REJECTED, `run ${runId}: ${err.cause.message.replace(`${ErrorCodes.PROMOTE_REJECTED}: `, '')}`, details);
    }
    if (err instanceof WorkflowNotFoundError) throw new RunError(ErrorCodes.RUN_NOT_FOUND, `no run "${runId}"`, { runId });
    throw err;
  }
}

export async function checkpointEvals(db: Db, checkpointId: string) {
  return db.select().from(evals).where(eq(evals.checkpointId, checkpointId)).orderBy(asc(evals.createdAt));
}

export async function runCheckpoints(db: Db, runId: string) {
  return db.select().from(checkpoints).where(eq(checkpoints.runId, runId)).orderBy(asc(checkpoints.createdAt));
}


function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

export function registerTrainingCommands(program: Command): void {
  program
    .command('promote')
    .argument('<run>', 'run id')
    .option('--reason <text>', 'why (recorded with the promotion)')
    .option('--who <name>', 'operator name (default: $SWERL_OPERATOR or the OS user)')
    .option('--force', 'promote although the eval gate is not met (needs --reason)')
    .option('--to <checkpoint>', "start the next stage from this checkpoint of the run (default: the stage's last)")
    .description('move a run waiting at a stage boundary into its next stage')
    .action(async (run: string, opts: { reason?: string; who?: string; force?: boolean; to?: string }) => {
      await withClient(async (client) => {
        const result = await promoteRun(client, run, {
          who: opts.who ?? operatorName(),
          reason: opts.reason ?? '',
          force: Boolean(opts.force),
          checkpointId: opts.to,
        });
        console.log(`promoted ${run}: ${result.fromStage} → ${result.toStage} from ${result.checkpointId}${result.forced ? ' (forced past the eval gate)' : ''} [${result.promotionId}]`);
      });
    });

  program
    .command('eval')
    .argument('<checkpoint>', 'checkpoint id')
    .option('--json', 'machine-readable output')
    .description('stored evaluations of a checkpoint: Pass@1 mean ± SEM over k runs and Pass@k')
    .action((checkpoint: string, opts: { json?: boolean }) =>
      withDb(async ({ db }) => {
        const rows = await checkpointEvals(db, checkpoint);
        if (rows.length === 0) {
          throw new RunError(ErrorCodes.CHECKPOINT_NOT_FOUND, `no evaluation of checkpoint ${checkpoint} is stored (runs evaluate at stage boundaries and in their eval stage)`, { checkpoint });
        }
        if (opts.json) return console.log(JSON.stringify(rows, null, 2));
        for (const e of rows) {
          console.log(`${e.checkpointId} [${e.stage}, split ${e.split}, ${e.taskCount} tasks]: Pass@1 ${pct(e.pass1Mean)} ± ${pct(e.pass1Sem)} (k=${e.k}), Pass@${e.k} ${pct(e.passK)}`);
        }
      }),
    );

  program
    .command('checkpoints')
    .argument('<run>', 'run id')
    .option('--json', 'machine-readable output')
    .description("a run's checkpoints with their lineage (parent, stage, iteration, metrics)")
    .action((run: string, opts: { json?: boolean }) =>
      withDb(async ({ db }) => {
        const rows = await runCheckpoints(db, run);
        if (opts.json) return console.log(JSON.stringify(rows, null, 2));
        if (rows.length === 0) console.log(`run ${run} has no checkpoints yet`);
        for (const c of rows) {
          const m = c.metrics as { loss?: number; clip_fraction?: number };
          const metrics = m.loss === undefined ? '' : `  loss ${m.loss.toFixed(4)} clip ${(m.clip_fraction ?? 0).toFixed(3)}`;
          console.log(`${c.id}  ${c.kind}  ${c.stage ?? '-'}#${c.iteration ?? '-'}  ← ${c.parentId ?? '(root)'}${metrics}`);
        }
      }),
    );
}
