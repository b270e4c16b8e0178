/**
 * Group-relative advantages and DAPO's dynamic sampling (PAPER.md "RL (modified DAPO)").
 * A group is the G rollouts of one problem under the same policy; the advantage of a rollout is
 * its reward standardised within its group, so no critic is needed.
 */
import type { RlStageConfig } from '../config';
import { invalidInput, requireFinite, requireUniqueIds } from './inputs';

/**
 * A_i = (R_i − mean(R)) / (std(R) + δ), over the rewards R of one group (R = R_final).
 *
 * std is the POPULATION standard deviation, sqrt(Σ(R_i − mean)² / G), as written in the
 * GRPO/DAPO papers ("std of the group"). verl uses torch.std (the unbiased sample std, / (G−1));
 * at the paper's G = 10 the two differ by sqrt(10/9) ≈ 5%, a constant rescaling. We take the
 * papers' form because it is defined for every group size and keeps the scale of A independent of
 * G: a group [1, 0] gets A = ±1 (sample std would give ±0.71), and the advantages of any
 * non-degenerate group have mean 0 and population variance ≈ 1. Example with δ → 0:
 * [1, 0, 0, 1] → mean 0.5, std 0.5, A = [1, −1, −1, 1].
 *
 * A group whose rewards are all equal gets exactly 0 for every sample (decided on the rewards, not
 * the arithmetic: the mean of [0.1, 0.1, 0.1] is not exactly 0.1 in floating point).
 * δ is `advantageEpsilon` in the stage config (1e-6).
 */
export function groupAdvantages(rewards: readonly number[], delta: number): number[] {
  if (rewards.length === 0) throw invalidInput('a group needs at least one reward');
  requireFinite('advantage delta', delta);
  if (delta <= 0) throw invalidInput(`advantage delta must be > 0, got ${delta}`, { delta });
  rewards.forEach((r, i) => requireFinite(`rewards[${i}]`, r));
  const first = rewards[0] as number;
  if (rewards.every((r) => r === first)) return rewards.map(() => 0);
  const mean = rewards.reduce((a, r) => a + r, 0) / rewards.length;
  const variance = rewards.reduce((a, r) => a + (r - mean) ** 2, 0) / rewards.length;
  const std = Math.sqrt(variance);
  return rewards.map((r) => (r - mean) / (std + delta));
}

/** One scored rollout as the iteration knows it: the episode row's id, token count and R_final. */
export interface ScoredSample {
  episodeId: string;
  rewardFinal: number;
}

export interface Group<S> {
  /** The problem whose rollouts these are. */
  taskId: string;
  samples: S[];
}

/** Adds each sample's advantage within its group; groups and samples keep their order. */
export function advantagesForGroups<S extends ScoredSample>(
  groups: ReadonlyArray<Group<S>>,
  delta: number,
): Array<Group<S & { advantage: number }>> {
  requireUniqueIds('episode id', groups.flatMap((g) => g.samples.map((s) => s.episodeId)));
  return groups.map((g) => {
    if (g.samples.length === 0) throw invalidInput(`group of task ${g.taskId} has no samples`, { taskId: g.taskId });
    const advantages = groupAdvantages(g.samples.map((s) => s.rewardFinal), delta);
    return { taskId: g.taskId, samples: g.samples.map((s, i) => ({ ...s, advantage: advantages[i] as number })) };
  });
}

export interface ZeroAdvantageFiltered<S> {
  /** Samples of the groups that carry a learning signal, group by group in input order. */
  kept: S[];
  groupsTotal: number;
  groupsDropped: number;
  /** groupsDropped / groupsTotal: the run status' "fraction of groups dropped for zero advantage"; 0 when there are no groups. */
  droppedFraction: number;
  samplesDropped: number;
}

/**
 * DAPO dynamic sampling: a group whose advantages are all zero (all rollouts got the same reward:
 * all solved, or all failed with the same length) contributes no gradient but would still dilute
 * the token-level loss normalisation, so all its samples are dropped. The unit is the group, as
 * in DAPO: a single A = 0 sample inside a mixed group (e.g. the middle of [0, 0.5, 1]) is kept,
 * it is part of the group the others were standardised against.
 */
export function zeroAdvantageFilter<S extends { advantage: number }>(groups: ReadonlyArray<Group<S>>): ZeroAdvantageFiltered<S> {
  const kept: S[] = [];
  let groupsDropped = 0;
  let samplesDropped = 0;
  for (const g of groups) {
    g.samples.forEach((s, i) => requireFinite(`advantage of task ${g.taskId} sample ${i}`, s.advantage));
    if (g.samples.every((s) => s.advantage === 0)) {
      groupsDropped++;
      samplesDropped += g.samples.length;
    } else {
      kept.push(...g.samples);
    }
  }
  return {
    kept,
    groupsTotal: groups.length,
    groupsDropped,
    droppedFraction: groups.length === 0 ? 0 : groupsDropped / groups.length,
    samplesDropped,
  };
}

/**
 * The iteration's path from scored groups to training samples: advantages with the stage's δ,
 * then dynamic sampling if the stage enables it (paper: on). With it off every sample is kept
 * and nothing counts as dropped.
 */
export function selectTrainingSamples<S extends ScoredSample>(
  groups: ReadonlyArray<Group<S>>,
  cfg: Pick<RlStageConfig, 'advantageEpsilon' | 'dropZeroAdvantage'>,
): ZeroAdvantageFiltered<S & { advantage: number }> {
  const withAdvantages = advantagesForGroups(groups, cfg.advantageEpsilon);
  if (cfg.dropZeroAdvantage) return zeroAdvantageFilter(withAdvantages);
  return {
    kept: withAdvantages.flatMap((g) => g.samples),
    groupsTotal: groups.length,
    groupsDropped: 0,
    droppedFraction: 0,
    samplesDropped: 0,
  };
}
