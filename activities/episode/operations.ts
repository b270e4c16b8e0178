/**
 * The activities of operators' episode operations (workflows/episodeOperations.ts).
 *
 * Bookkeeping (orchestration queue, Postgres only): record the operation after checking that it
 * applies, prepare a fork (its episode row and the copied turns, keyed, so a retry writes them
 * once), finish the operation. Grading (rollout queue, Docker): rescore the stored patch.
 *
 * Neither touches the source episode: its row, turns and reward result stay as they were (its
 * reward may already have been trained on); a rescore's grade lives on the operation's row.
 */
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { RetryPolicySchema } from '../../core/config';
import { toTemporalFailure } from '../../core/errors';
import type { Db } from '../../db/client';
import { toDbError } from '../../db/client';
import {
  checkEpisodeOperation,
  checkForkable,
  checkRescorable,
  countGraderRun,
  finishEpisodeOperation,
  getEpisodeOperation,
  recordEpisodeOperation,
  setForkEpisode,
  type EpisodeOperation,
  type EpisodeOperationRequest,
  type NewEpisodeOperation,
} from '../../db/episodeOperations';
import { createEpisode } from '../../db/episodes';
import { getRun } from '../../db/runs';
import { appendTurn } from '../../db/turns';
import type { EpisodeInput } from '../../workflows/episode';
import { episodeRow, heartbeatEvery } from './activities';
import { gradePatch } from './grading';
import { specOf, type HostContext } from './sandboxes';

export interface OperationSummary {
  operationId: string;
  status: EpisodeOperation['status'];
  graderRuns: number;
  reward: number | null;
  resultEpisodeId: string | null;
}

function summary(op: EpisodeOperation): OperationSummary {
  return { operationId: op.id, status: op.status, graderRuns: op.graderRuns, reward: op.reward, resultEpisodeId: op.resultEpisodeId };
}

async function guarded<T>(doing: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toTemporalFailure(toDbError(err, doing));
  }
}

/** The fork's episode id: the source's with the operation's id, so the two read as a pair. */
export function forkEpisodeId(sourceEpisodeId: string, operationId: string): string {
  return `${sourceEpisodeId}~${operationId}`;
}

/** A fork's slot: its own stage label, the source's iteration and task, a sample index from the operation id. */
function forkSlot(source: { stage: string }, operationId: string): { stage: string; sampleIdx: number } {
  return { stage: `fork:${source.stage}`, sampleIdx: parseInt(createHash('sha256').update(operationId).digest('hex').slice(0, 7), 16) };
}

export interface PrepareForkInput {
  operationId: string;
  /** Endpoint of the new policy; default: the source episode's. */
  policyUrl?: string;
  rolloutQueue?: string;
}

export function createOperationBookkeeping(db: Db) {
  return {
    async recordEpisodeOperation(input: NewEpisodeOperation & { check: EpisodeOperationRequest }): Promise<OperationSummary> {
      return guarded(`recording operation ${input.id}`, async () => {
        const { check, ...op } = input;
        await checkEpisodeOperation(db, check);
        return summary(await recordEpisodeOperation(db, op));
      });
    },

    /**
     * Creates the fork's episode row (the source's spec, the new policy version, its own slot) and
     * copies the source's first k agent turns (action and observation, with their token ids and
     * logprobs) and its two prompt rows; returns the input of the episode workflow that continues
     * it at turn k. Keyed writes: a retry finds the rows and returns the same input.
     */
    async prepareFork(input: PrepareForkInput): Promise<EpisodeInput> {
      return guarded(`preparing fork ${input.operationId}`, async () => {
        const op = await getEpisodeOperation(db, input.operationId);
        const { source, copied } = await checkForkable(db, op.episodeId, op.atTurn ?? -1);
        const spec = specOf(source);
        const version = op.policyVersion!;
        // A source that asked for its version by name (policy.pinVersion) has the fork ask for its own.
        const model = spec.policy.model === spec.policy.policyVersion ? version : spec.policy.model;
        const runConfig = (await getRun(db, source.runId)).config as { retry?: unknown };
        const retry = RetryPolicySchema.safeParse(runConfig.retry ?? {});
        const slot = forkSlot(source, op.id);
        const episodeInput: EpisodeInput = {
          episodeId: forkEpisodeId(source.id, op.id),
          runId: source.runId,
          stage: slot.stage,
          iteration: source.iteration,
          taskId: source.taskId,
          sampleIdx: slot.sampleIdx,
          policy: { ...spec.policy, url: input.policyUrl ?? spec.policy.url, model, policyVersion: version },
          limits: spec.limits,
          sandbox: spec.sandbox,
          timeouts: spec.timeouts,
          retry: retry.success ? retry.data : RetryPolicySchema.parse({}),
          ...(input.rolloutQueue ? { rolloutQueue: input.rolloutQueue } : {}),
        };
        await createEpisode(db, episodeRow({ ...episodeInput, workflowId: `swerl-episode-${episodeInput.episodeId}` }));
        for (const t of copied) {
          const { createdAt: _createdAt, episodeId: _episodeId, ...turn } = t;
          await appendTurn(db, { ...turn, episodeId: episodeInput.episodeId });
        }
        await setForkEpisode(db, op.id, episodeInput.episodeId);
        return episodeInput;
      });
    },

    async finishEpisodeOperation(input: { operationId: string; outcome: Parameters<typeof finishEpisodeOperation>[2] }): Promise<OperationSummary> {
      return guarded(`finishing operation ${input.operationId}`, async () => summary(await finishEpisodeOperation(db, input.operationId, input.outcome)));
    },
  };
}

export type OperationBookkeeping = ReturnType<typeof createOperationBookkeeping>;

export function createRescoreActivities(ctx: HostContext) {
  return {
    /**
     * Grades the episode's stored patch once and stores the grade on the operation's row. A finished
     * operation returns its stored grade (no second run); every grader run is counted before it
     * starts, so a retried attempt is visible as grader_runs 2.
     */
    async rescoreStoredPatch(input: { operationId: string }): Promise<OperationSummary> {
      const stopHeartbeat = heartbeatEvery(1_000);
      try {
        const op = await getEpisodeOperation(ctx.db, input.operationId);
        if (op.status !== 'running') return summary(op);
        const episode = await checkRescorable(ctx.db, op.episodeId);
        await countGraderRun(ctx.db, op.id);
        Context.current().heartbeat({ grading: op.episodeId });
        const { image: _image, ...result } = await gradePatch(ctx, episode, episode.patch ?? '', `${op.id}.rescore`);
        return summary(await finishEpisodeOperation(ctx.db, op.id, { status: 'completed', reward: result.reward, result: { ...result } }));
      } catch (err) {
        throw toTemporalFailure(toDbError(err, `rescoring for operation ${input.operationId}`));
      } finally {
        stopHeartbeat();
      }
    },
  };
}

export type RescoreActivities = ReturnType<typeof createRescoreActivities>;
