/**
 * The sandboxes of one rollout host: building the task image, leasing a container, attaching to a
 * container after a worker restart, and rebuilding a sandbox from an episode's persisted commands.
 */
import type Docker from 'dockerode';
import { Context } from '@temporalio/activity';
import { agentTurnOf, assistantIdx, nextAgentTurn } from '../../core/transcript';
import { ErrorCodes, SwerlError, TaskError } from '../../core/errors';
import type { Db } from '../../db/client';
import { getEpisode } from '../../db/episodes';
import { getTask } from '../../db/tasks';
import { listTurns } from '../../db/turns';
import { ensureTaskImage } from '../../sandbox/images';
import { attachSandbox, Labels, type LeaseManager, type Sandbox } from '../sandbox';
import type { Episode } from '../../db/episodes';
import type { EpisodeSpec } from './types';

export interface HostContext {
  db: Db;
  docker: Docker;
  leases: LeaseManager;
  /** This worker's own task queue name. */
  hostQueue: string;
}

/** Image of the task's repository at its base commit (content-hashed; built once per host). */
export async function taskImage(ctx: HostContext, taskId: string): Promise<string> {
  const task = await getTask(ctx.db, taskId);
  const meta = task.metadata as { repoDir?: string; setup?: string | null };
  if (task.image) return task.image;
  if (!meta.repoDir) {
    throw new TaskError(ErrorCodes.TASK_INVALID, `task ${taskId} has neither an image nor a repoDir to build one from`, { taskId });
  }
  return ensureTaskImage({ instanceId: task.id, repoDir: meta.repoDir, baseCommit: task.baseCommit, setupScript: meta.setup ?? undefined }, { docker: ctx.docker });
}

const leaseByContainer = new Map<string, string>();

export function specOf(episode: Episode): EpisodeSpec {
  if (!episode.spec) {
    throw new SwerlError(ErrorCodes.EPISODE_STATE_INVALID, `episode ${episode.id} has no stored spec (was it started by the episode workflow?)`, { episodeId: episode.id });
  }
  return episode.spec as unknown as EpisodeSpec;
}

/**
 * A fresh sandbox for the episode with the commands of every agent turn whose observation is
 * persisted re-run in order (outputs discarded: the persisted observations stay the record).
 * Commands are replayed, never re-generated, so the rebuilt /repo and tool state match what the
 * policy saw. The persisted transcript decides what to replay, not the caller: a workflow that
 * lost its host mid-segment only knows the turn the segment started at, and a pending turn (its
 * command persisted, its observation not) is the caller's to run once, after the rebuild.
 */
export async function buildSandbox(ctx: HostContext, episodeId: string): Promise<Sandbox> {
  const episode = await getEpisode(ctx.db, episodeId);
  const settings = specOf(episode).sandbox;
  const image = await taskImage(ctx, episode.taskId);
  const { leaseId, sandbox } = await ctx.leases.acquire({
    image,
    limits: settings,
    labels: { run: episode.runId, episode: episodeId },
    // The run config's TTL, whatever this host's own config says (compose workers run with its default).
    leaseTtlSec: settings.leaseTtlSec,
  });
  leaseByContainer.set(sandbox.containerId, leaseId);
  attached.set(sandbox.containerId, sandbox);
  const turns = await listTurns(ctx.db, episodeId);
  const replayed = nextAgentTurn(turns);
  const commands = turns.filter((t) => t.role === 'assistant' && t.command && t.idx < assistantIdx(replayed));
  for (const [i, t] of commands.entries()) {
    Context.current().heartbeat({ replaying: i, of: commands.length });
    // Recorded under its agent turn, like the original run, so a retry's rerun check sees it.
    await sandbox.exec(t.command!, { timeoutSec: settings.commandTimeoutSec, seq: agentTurnOf(t.idx) });
  }
  return sandbox;
}

/** Sandboxes this host created or attached, by container id: a turn's exec skips `docker inspect`. */
const attached = new Map<string, Sandbox>();

/** The sandbox a host activity was told about; after a worker restart the container is re-attached. */
export async function sandboxOf(ctx: HostContext, containerId: string): Promise<Sandbox> {
  let sandbox = attached.get(containerId);
  if (!sandbox) {
    sandbox = await attachSandbox(ctx.docker, containerId);
    attached.set(containerId, sandbox);
  }
  const leaseId = leaseByContainer.get(containerId);
  if (leaseId) ctx.leases.renew(leaseId);
  return sandbox;
}

/**
 * The labels of a container this process holds no lease on, for the warning of a release that
 * cannot free its holder's slot (the lease belongs to another process, or to this host's previous one).
 */
export async function foreignLeaseOf(ctx: HostContext, containerId: string): Promise<Record<string, string> | undefined> {
  if (leaseByContainer.has(containerId)) return undefined;
  const labels = await ctx.docker
    .getContainer(containerId)
    .inspect()
    .then((info) => info.Config.Labels ?? {}, () => ({}) as Record<string, string>);
  return { leaseId: labels[Labels.leaseId] ?? '-', managerId: labels[Labels.manager] ?? '-' };
}

export async function releaseContainer(ctx: HostContext, sandbox: Sandbox): Promise<void> {
  const leaseId = leaseByContainer.get(sandbox.containerId);
  leaseByContainer.delete(sandbox.containerId);
  attached.delete(sandbox.containerId);
  if (leaseId) await ctx.leases.release(leaseId).catch(() => sandbox.destroy());
  else await sandbox.destroy();
}
