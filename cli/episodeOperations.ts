/**
 * `swerl episode rescore` and `swerl episode fork`: operators' actions on a stored episode, as
 * durable workflows (workflows/episodeOperations.ts). The dashboard calls the same two functions,
 * so both refuse the same requests with the same codes before anything starts.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import { ConfigError, ErrorCodes } from '../core/errors';
import { TaskQueues } from '../core/taskQueues';
import type { Db } from '../db/client';
import { checkEpisodeOperation, listEpisodeOperations } from '../db/episodeOperations';
import { forkEpisodeId } from '../activities/episode/operations';
import { episodeOperationWorkflowId, type forkEpisode, type OperationOutcome, type rescoreEpisode } from '../workflows/episodeOperations';
import { withClient, withDb } from './connections';
import { operatorName } from './runs';

export interface OperationServices {
  /** Orchestration task queue (default TaskQueues.orchestration). */
  taskQueue?: string;
  rolloutQueue?: string;
  trainerQueue?: string;
}

interface OperationRequestBase {
  episodeId: string;
  who: string;
  reason: string;
  /** Default: a new one; the same id again attaches to the operation instead of starting another. */
  operationId?: string;
}

export interface ForkRequest extends OperationRequestBase {
  atTurn: number;
  policyVersion: string;
  /** An endpoint that already serves `policyVersion`; without one the trainer's server loads the checkpoint. */
  policyUrl?: string;
}

export interface StartedOperation {
  operationId: string;
  workflowId: string;
  /** The fork's new episode (forks only). */
  episodeId?: string;
  handle: WorkflowHandle<typeof rescoreEpisode> | WorkflowHandle<typeof forkEpisode>;
}

function newOperationId(kind: 'rescore' | 'fork'): string {
  return `${kind}-${randomUUID().slice(0, 8)}`;
}

function checkActor(req: OperationRequestBase): void {
  if (!req.who.trim()) throw new ConfigError(ErrorCodes.CONFIG_INVALID, 'an operator action needs who takes it', { episodeId: req.episodeId });
}

async function start<W extends typeof rescoreEpisode | typeof forkEpisode>(client: Client, type: string, operationId: string, taskQueue: string | undefined, args: Parameters<W>): Promise<WorkflowHandle<W>> {
  const workflowId = episodeOperationWorkflowId(operationId);
  try {
    return await client.workflow.start<W>(type, { workflowId, taskQueue: taskQueue ?? TaskQueues.orchestration, args, workflowIdConflictPolicy: 'USE_EXISTING', workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY' });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return client.workflow.getHandle<W>(workflowId);
  }
}

/** Checks the request (episode exists and stored a patch) and starts the rescore. */
export async function requestRescore(client: Client, db: Db, req: OperationRequestBase, services: OperationServices = {}): Promise<StartedOperation> {
  checkActor(req);
  await checkEpisodeOperation(db, { kind: 'rescore', episodeId: req.episodeId });
  const operationId = req.operationId ?? newOperationId('rescore');
  const handle = await start<typeof rescoreEpisode>(client, 'rescoreEpisode', operationId, services.taskQueue, [
    { operationId, episodeId: req.episodeId, who: req.who, reason: req.reason, rolloutQueue: services.rolloutQueue },
  ]);
  return { operationId, workflowId: handle.workflowId, handle };
}

/** Checks the request (turn k within the stored turns, no submit copied, the checkpoint registered when it is to be loaded) and starts the fork. */
export async function requestFork(client: Client, db: Db, req: ForkRequest, services: OperationServices = {}): Promise<StartedOperation> {
  checkActor(req);
  const loadPolicy = !req.policyUrl;
  await checkEpisodeOperation(db, { kind: 'fork', episodeId: req.episodeId, atTurn: req.atTurn, policyVersion: req.policyVersion, loadPolicy });
  const operationId = req.operationId ?? newOperationId('fork');
  const handle = await start<typeof forkEpisode>(client, 'forkEpisode', operationId, services.taskQueue, [
    {
      operationId,
      episodeId: req.episodeId,
      who: req.who,
      reason: req.reason,
      atTurn: req.atTurn,
      policyVersion: req.policyVersion,
      policyUrl: req.policyUrl,
      loadPolicy,
      rolloutQueue: services.rolloutQueue,
      trainerQueue: services.trainerQueue,
    },
  ]);
  return { operationId, workflowId: handle.workflowId, episodeId: forkEpisodeId(req.episodeId, operationId), handle };
}

function turnArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(ErrorCodes.CONFIG_INVALID, `--at must be a whole number ≥ 0, got "${value}"`, { at: value });
  return n;
}

function formatOutcome(o: OperationOutcome): string {
  if (o.kind === 'rescore') return `rescored: reward ${o.reward} (grader runs ${o.graderRuns}) [${o.operationId}]`;
  return `fork ${o.resultEpisodeId}: reward ${o.reward} [${o.operationId}] (\`swerl trajectory ${o.resultEpisodeId}\`)`;
}

async function runOperation(begin: (client: Client, db: Db) => Promise<StartedOperation>, wait: boolean, json: boolean): Promise<void> {
  await withDb((db) =>
    withClient(async (client) => {
      const started = await begin(client, db.db);
      const head = { operationId: started.operationId, workflowId: started.workflowId, ...(started.episodeId ? { episodeId: started.episodeId } : {}) };
      if (!wait) return console.log(json ? JSON.stringify(head) : `started ${started.operationId} (workflow ${started.workflowId})${started.episodeId ? `: episode ${started.episodeId}` : ''}`);
      if (!json) console.error(`waiting for ${started.operationId} (workflow ${started.workflowId})`);
      const outcome = await started.handle.result();
      console.log(json ? JSON.stringify({ ...head, ...outcome }, null, 2) : formatOutcome(outcome));
    }),
  );
}

/** Adds `rescore`, `fork` and `operations` under `swerl episode`. */
export function registerEpisodeOperationCommands(episode: Command): void {
  episode
    .command('rescore')
    .argument('<episode>', 'episode id')
    .option('--reason <text>', 'why (recorded with the operation)', 'rescore requested')
    .option('--who <name>', 'operator name (default: $SWERL_OPERATOR or the OS user)')
    .option('--no-wait', 'print the operation id and return instead of waiting for the grade')
    .option('--json', 'machine-readable output')
    .description("grade the episode's stored patch again (needs a rollout worker); the episode's own reward is kept, the new grade is recorded with the operation")
    .action((episodeId: string, opts: { reason: string; who?: string; wait: boolean; json?: boolean }) =>
      runOperation((client, db) => requestRescore(client, db, { episodeId, who: opts.who ?? operatorName(), reason: opts.reason }), opts.wait, Boolean(opts.json)),
    );

  episode
    .command('fork')
    .argument('<episode>', 'episode id')
    .requiredOption('--at <k>', 'copy the first k agent turns; the new policy acts from turn k', turnArg)
    .requiredOption('--policy-version <version>', 'the policy version (checkpoint id) the new turns come from')
    .option('--policy <url>', 'an endpoint already serving that version (default: the trainer loads the checkpoint into the source episode\'s endpoint)')
    .option('--reason <text>', 'why (recorded with the operation)', 'fork requested')
    .option('--who <name>', 'operator name (default: $SWERL_OPERATOR or the OS user)')
    .option('--no-wait', 'print the operation id and the new episode id and return')
    .option('--json', 'machine-readable output')
    .description('a new episode whose first k turns are copied from this one and whose later turns come from another policy version (needs workers)')
    .action((episodeId: string, opts: { at: number; policyVersion: string; policy?: string; reason: string; who?: string; wait: boolean; json?: boolean }) =>
      runOperation(
        (client, db) => requestFork(client, db, { episodeId, atTurn: opts.at, policyVersion: opts.policyVersion, policyUrl: opts.policy, who: opts.who ?? operatorName(), reason: opts.reason }),
        opts.wait,
        Boolean(opts.json),
      ),
    );

  episode
    .command('operations')
    .argument('<episode>', 'episode id')
    .option('--json', 'machine-readable output')
    .description('the rescores and forks of an episode (and the fork it came from), with who and why')
    .action((episodeId: string, opts: { json?: boolean }) =>
      withDb(async ({ db }) => {
        const ops = await listEpisodeOperations(db, episodeId);
        if (opts.json) return console.log(JSON.stringify(ops, null, 2));
        if (ops.length === 0) console.log(`no operations on episode ${episodeId}`);
        for (const o of ops) {
          const what = o.kind === 'rescore' ? `rescore → reward ${o.reward ?? '-'} (grader runs ${o.graderRuns})` : `fork at turn ${o.atTurn} under ${o.policyVersion} → ${o.resultEpisodeId ?? '-'}${o.reward === null ? '' : ` reward ${o.reward}`}`;
          console.log(`${o.id}  ${o.status}  ${what}  by ${o.actor}: ${o.reason}${o.error ? `  [${o.errorCode}: ${o.error}]` : ''}`);
        }
      }),
    );
}
