/**
 * episodeShard: one node of an iteration's fan-out tree (core/fanout.ts). A leaf runs its slot
 * range's episodes as children (within rollout.maxConcurrentEpisodes) and records their outcomes
 * in Postgres; an inner shard runs its child shards. Either returns counts only.
 *
 * Guarantees
 * - Bounded history whatever the run's size: a leaf has at most `leafEpisodes` episode children
 *   and two activities, an inner shard at most `branching` shard children (core/fanout.ts
 *   estimates both, the tests measure them).
 * - Nothing grows with the number of episodes in an input or result: a shard's input is its range
 *   [from, to) and the iteration's key; slots come from `iteration_slots` (≤ leafEpisodes rows),
 *   outcomes go back there, and the result is five counters.
 * - Exactly-once counting: each slot is in one leaf; a leaf counts its scored episodes into
 *   task_stats once each (keyed by episode id), so a retried leaf recounts nothing.
 * - Deterministic: the children's workflow ids derive from (run, stage, iteration, range) and the
 *   episode ids from the slots; the tree from the planner.
 * - rollout.maxConcurrentEpisodes stays a bound on the whole iteration: with it set, child shards
 *   run one after another, so only one leaf (with its window) is in flight.
 */
import { ApplicationFailure, executeChild, patched, workflowInfo } from '@temporalio/workflow';
import type { ShardCounts } from '../activities/training';
import type { StageConfig } from '../core/config';
import { DEFAULT_MAX_UNSCORED_FRACTION } from '../core/episodeLimits';
import { ErrorCodes } from '../core/errors';
import { tooManyUnscored } from '../core/rewardAttempts';
import { childRanges, DEFAULT_FANOUT_LIMITS, rootHeight, type FanoutLimits, type ShardRange } from '../core/fanout';
import { mapWithWindow } from './boundedWindow';
import { codedChildFailure, runEpisodeChildren, trainingActivities, type LoopContext } from './loopContext';

export interface EpisodeShardInput {
  ctx: LoopContext;
  /** The stage the episodes belong to (an eval's is renamed to its label). */
  stage: StageConfig;
  iteration: number;
  policyVersion: string;
  range: ShardRange;
  limits: FanoutLimits;
  /** Training stages count scored episodes into task_stats; evals never do. */
  countTaskStats: boolean;
  seedPerTask: boolean;
}

export function shardWorkflowId(runId: string, stage: string, iteration: number, range: ShardRange): string {
  return `swerl-shard-${runId}-${stage}-${iteration}-${range.from}-${range.to}-h${range.height}`;
}

/** The limits of a run: rollout.shardEpisodes / shardBranching over the defaults. */
export function fanoutLimits(ctx: Pick<LoopContext, 'config'>): FanoutLimits {
  const r = ctx.config.rollout;
  return { ...DEFAULT_FANOUT_LIMITS, leafEpisodes: r?.shardEpisodes ?? DEFAULT_FANOUT_LIMITS.leafEpisodes, branching: r?.shardBranching ?? DEFAULT_FANOUT_LIMITS.branching };
}

export function addCounts(a: ShardCounts, b: ShardCounts): ShardCounts {
  return {
    episodes: a.episodes + b.episodes,
    scored: a.scored + b.scored,
    solved: a.solved + b.solved,
    counted: a.counted + b.counted,
    alreadyCounted: a.alreadyCounted + b.alreadyCounted,
  };
}

export const NO_COUNTS: ShardCounts = { episodes: 0, scored: 0, solved: 0, counted: 0, alreadyCounted: 0 };

/** Starts the shard over `range` as a child of the calling workflow and returns its counts. */
export async function runShard(input: EpisodeShardInput): Promise<ShardCounts> {
  const { ctx, stage, iteration, range } = input;
  try {
    return await executeChild<typeof episodeShard>('episodeShard', {
      workflowId: shardWorkflowId(ctx.runId, stage.name, iteration, range),
      taskQueue: workflowInfo().taskQueue,
      args: [input],
    });
  } catch (err) {
    throw codedChildFailure(err, `shard [${range.from}, ${range.to}) of ${ctx.runId}/${stage.name}/${iteration}`);
  }
}

export async function episodeShard(input: EpisodeShardInput): Promise<ShardCounts> {
  const { ctx, stage, iteration, range } = input;
  const key = { runId: ctx.runId, stage: stage.name, iteration };
  if (range.height > 0) {
    const children = childRanges(range, input.limits);
    const window = ctx.config.rollout?.maxConcurrentEpisodes !== undefined ? 1 : children.length;
    const counts = await mapWithWindow(children, Math.max(1, window), (child) => runShard({ ...input, range: child }));
    return counts.reduce(addCounts, NO_COUNTS);
  }
  if (range.to === range.from) return NO_COUNTS;
  const training = trainingActivities(ctx);
  const slots = await training.loadSlots({ ...key, from: range.from, to: range.to });
  const cap = ctx.config.rollout?.maxConcurrentEpisodes;
  await runEpisodeChildren(ctx, stage, iteration, slots, input.policyVersion, {
    seedPerTask: input.seedPerTask,
    windowed: () => cap !== undefined && cap < slots.length,
  });
  return training.recordShardOutcomes({ ...key, from: range.from, to: range.to, countTaskStats: input.countTaskStats });
}

/** Marks histories whose iterations, stages and evals fan out through shards (core/fanout.ts). */
export const SHARDED_FANOUT_PATCH = 'swerl-sharded-fanout';

/**
 * Runs the `slots` planned slots of an iteration through the shard tree and checks that every
 * slot's episode was counted once (the leaves' counts add up to the plan).
 */
export async function runSharded(
  ctx: LoopContext,
  stage: StageConfig,
  iteration: number,
  slots: number,
  policyVersion: string,
  opts: { countTaskStats: boolean },
): Promise<ShardCounts> {
  const limits = fanoutLimits(ctx);
  const counts = await runShard({
    ctx,
    stage,
    iteration,
    policyVersion,
    range: { from: 0, to: slots, height: rootHeight(slots, limits) },
    limits,
    countTaskStats: opts.countTaskStats,
    seedPerTask: ctx.config.policy.seedScheme === 'per-task',
  });
  if (counts.episodes !== slots) {
    throw ApplicationFailure.nonRetryable(`${ctx.runId}/${stage.name}/${iteration}: ${slots} slots planned, ${counts.episodes} episodes counted`, ErrorCodes.RUN_STATE_INVALID);
  }
  // Episodes whose reward or sandbox kept failing end unscored one by one; only too many of them
  // fail the iteration (histories recorded before the bound never asked).
  const maxFraction = ctx.config.rollout?.maxUnscoredFraction ?? DEFAULT_MAX_UNSCORED_FRACTION;
  if (patched(UNSCORED_BOUND_PATCH) && tooManyUnscored(counts.episodes, counts.scored, maxFraction)) {
    const unscored = counts.episodes - counts.scored;
    throw ApplicationFailure.nonRetryable(
      `${ErrorCodes.UNSCORED_FRACTION_EXCEEDED}: ${ctx.runId}/${stage.name}/${iteration}: ${unscored} of ${counts.episodes} episodes ended unscored (infra_failure, sandbox_lost), more than rollout.maxUnscoredFraction ${maxFraction}`,
      ErrorCodes.UNSCORED_FRACTION_EXCEEDED,
      { unscored, episodes: counts.episodes, maxFraction },
    );
  }
  return counts;
}

/** Marks histories whose iterations fail only when more than rollout.maxUnscoredFraction of their episodes end unscored. */
export const UNSCORED_BOUND_PATCH = 'swerl-unscored-fraction-bound';
