/**
 * Grading a patch against an episode's task in a clean copy of its repository: SWE-bench's way
 * (official eval script, log parser, verdict) for a task imported with SWE-bench's environment,
 * swerl's JUnit way for its own suites. The episode's reward and an operator's rescore both grade
 * through here, so a rescore judges exactly as the episode was judged.
 */
import type { Episode } from '../../db/episodes';
import { getTask } from '../../db/tasks';
import { computeReward, type RewardResult } from '../reward';
import { computeSwebenchReward } from '../reward/swebench';
import { Labels } from '../sandbox';
import { swebenchLineOf, swebenchRecordOf } from '../taskEnvironment';
import { specOf, taskImage, type HostContext } from './sandboxes';

/** `label` names the harness containers; a retried attempt removes its predecessor's first. */
export async function gradePatch(ctx: HostContext, episode: Episode, patch: string, label: string): Promise<RewardResult> {
  const { sandbox, timeouts } = specOf(episode);
  const rewardTimeoutSec = timeouts.rewardSec;
  const task = await getTask(ctx.db, episode.taskId);
  const image = await taskImage(ctx, task.id);
  // A previous attempt's harness container (its worker died mid-run) is of no further use. Looked
  // for on every attempt: bounded scoring retries in the workflow, one activity attempt per call.
  await removeLabelled(ctx, label);
  const rewardOpts = { image, limits: sandbox, testTimeoutSec: rewardTimeoutSec, labels: { run: episode.runId, episode: label }, leaseTtlSec: rewardTimeoutSec + 120 };
  const swebenchEnv = swebenchRecordOf(task);
  return swebenchEnv
    ? computeSwebenchReward(ctx.docker, swebenchLineOf({ ...task, instanceId: task.id }), patch, { ...rewardOpts, layout: swebenchEnv.layout })
    : computeReward(
      ctx.docker,
      { instanceId: task.id, baseCommit: task.baseCommit, testPatch: task.testPatch, failToPass: task.failToPass, passToPass: task.passToPass },
      patch,
      rewardOpts,
    );
}

async function removeLabelled(ctx: HostContext, episodeLabel: string): Promise<void> {
  const stale = await ctx.docker.listContainers({ all: true, filters: { label: [`${Labels.episode}=${episodeLabel}`] } });
  await Promise.all(stale.map((c) => ctx.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}
