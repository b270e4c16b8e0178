/**
 * An in-process rollout host, used ONLY to load the orchestration (the fan-out tests and
 * `npm run bench -- fanout`): the episode's shared activities are the real ones (episode rows,
 * policy calls, persisted turns) except that no container exists — `acquireSandbox` hands out a
 * name, `execTool` records "(in-process sandbox: not run) <command>" as the observation without
 * running it, and `scoreEpisode` scores R = 1 iff the agent submitted (no tests run). Everything
 * it writes goes through the same db functions as the real host, so episode rows, turns and
 * scores look like a real rollout's to the iteration that aggregates them.
 */
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createEpisodeActivities } from '../../activities/episode/activities';
import { setEpisodePatch } from '../../activities/episode/patch';
import { specOf } from '../../activities/episode/sandboxes';
import type { EpisodeActivities, HostActivities } from '../../activities/episode/types';
import { ErrorCodes, SandboxError, toTemporalFailure } from '../../core/errors';
import { rewardBreakdown } from '../../core/rl/reward';
import { assistantIdx, observationIdx } from '../../core/transcript';
import type { Db } from '../../db/client';
import { completeEpisode, getEpisode } from '../../db/episodes';
import { appendTurn, getTurn } from '../../db/turns';

export const IN_PROCESS_OBSERVATION = '(in-process sandbox: not run)';

export interface InProcessRolloutOptions {
  /** Episodes of these tasks never get a reward: every scoring attempt fails as infra (SWERL_REWARD_INFRA_FAILED). */
  rewardInfraDown?: (taskId: string) => boolean;
}

export function inProcessRolloutActivities(db: Db, hostQueue: string, opts: InProcessRolloutOptions = {}): { shared: EpisodeActivities; host: HostActivities } {
  const real = createEpisodeActivities({ db, hostQueue, docker: undefined as never, leases: undefined as never });
  const shared: EpisodeActivities = {
    ...real,
    async acquireSandbox({ episodeId }) {
      return { hostQueue, containerId: `in-process-${episodeId}` };
    },
    async scoreEpisode({ episodeId, turns, exitReason }) {
      const episode = await getEpisode(db, episodeId);
      if (opts.rewardInfraDown?.(episode.taskId) && episode.status !== 'completed') {
        throw toTemporalFailure(new SandboxError(ErrorCodes.REWARD_INFRA_FAILED, `in-process: no reward for ${episode.taskId}`, { episodeId }));
      }
      if (episode.status === 'completed') {
        return { reward: episode.reward ?? 0, lengthPenalty: episode.lengthPenalty ?? 0, rewardFinal: episode.rewardFinal ?? 0, reason: 'already_scored', infraFailures: episode.infraFailures };
      }
      const { limits } = specOf(episode);
      const score = rewardBreakdown(exitReason === 'submitted' ? 1 : 0, turns, { maxTurns: limits.maxTurns, lengthPenalty: { enabled: limits.lengthPenalty, freeTurns: limits.freeTurns } });
      const done = await completeEpisode(db, { episodeId, exitReason, patch: episode.patch, ...score });
      return { reward: done.reward ?? 0, lengthPenalty: done.lengthPenalty ?? 0, rewardFinal: done.rewardFinal ?? 0, reason: 'in-process: submitted', infraFailures: done.infraFailures };
    },
  };
  const host: HostActivities = {
    /** The real segment's contract: the real policy turn, then the in-process observation, per turn. */
    async runTurns({ episodeId, fromTurn, containerId, maxTurns }) {
      const { limits } = specOf(await getEpisode(db, episodeId));
      const end = Math.min(limits.maxTurns, fromTurn + maxTurns);
      let formatErrors = 0;
      let turn = fromTurn;
      let exit: 'submitted' | 'context_overflow' | undefined;
      for (; turn < end; turn++) {
        const step = await real.policyTurn({ episodeId, turn });
        if (step.kind === 'context_overflow') {
          exit = 'context_overflow';
          break;
        }
        if (step.formatError) formatErrors += 1;
        const obs = await host.execTool({ episodeId, turn, containerId });
        if (obs.submitted) {
          turn += 1;
          exit = 'submitted';
          break;
        }
      }
      return { nextTurn: turn, formatErrors, ...(exit ? { exit } : {}) };
    },
    async execTool({ episodeId, turn }) {
      const persisted = await getTurn(db, episodeId, observationIdx(turn));
      if (persisted) return { submitted: persisted.tool === 'submit', exitCode: persisted.exitCode, truncated: persisted.outputTruncated };
      const action = await getTurn(db, episodeId, assistantIdx(turn));
      if (!action?.command) throw new Error(`episode ${episodeId} has no command for agent turn ${turn}`);
      const submitted = action.tool === 'submit';
      if (submitted) await setEpisodePatch(db, episodeId, '');
      await appendTurn(db, {
        episodeId,
        idx: observationIdx(turn),
        role: 'tool',
        text: `${IN_PROCESS_OBSERVATION} ${action.command.slice(0, 200)}`,
        tool: action.tool,
        exitCode: 0,
        outputTruncated: false,
        durationMs: 0,
      });
      return { submitted, exitCode: 0, truncated: false };
    },
    async captureDiff({ episodeId }) {
      await setEpisodePatch(db, episodeId, '');
    },
    async releaseSandbox() {
      // nothing was created
    },
  };
  return { shared, host };
}

export interface InProcessRollout {
  hostQueue: string;
  run(): Promise<void>;
  shutdown(): void;
}

/** Two workers (shared queue, host queue) on `connection`, serving the in-process activities. */
export async function createInProcessRollout(opts: { connection: NativeConnection; namespace: string; db: Db; sharedQueue: string; concurrency?: number } & InProcessRolloutOptions): Promise<InProcessRollout> {
  const hostQueue = `${opts.sharedQueue}-in-process-host`;
  const { shared, host } = inProcessRolloutActivities(opts.db, hostQueue, opts);
  const common = { connection: opts.connection, namespace: opts.namespace, maxConcurrentActivityTaskExecutions: opts.concurrency ?? 50 };
  const workers = [
    await Worker.create({ ...common, taskQueue: opts.sharedQueue, activities: shared }),
    await Worker.create({ ...common, taskQueue: hostQueue, activities: host }),
  ];
  return {
    hostQueue,
    run: async () => {
      await Promise.all(workers.map((w) => w.run()));
    },
    shutdown: () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}
