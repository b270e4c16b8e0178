/**
 * The scalar an episode contributes to its group: R_final = R + R_len (PAPER.md "RL (modified
 * DAPO)"). There is deliberately no exit reason among the inputs: the paper found that masking
 * trajectories that overflow the context or hit T_max reinforced looping, so those episodes are
 * scored exactly like submitted ones — R from the tests (0 when nothing useful was submitted)
 * plus the length penalty. Only infra failures are unscored, and they never reach this module.
 */
import type { RlStageConfig } from '../config';
import { invalidInput, requireFinite, requireInt } from './inputs';

/** Paper: no penalty for the first 10 turns. */
export const DEFAULT_FREE_TURNS = 10;

/**
 * R_len = 0                                   if |τ| < freeTurns
 *       = (freeTurns − |τ|) / (T_max − freeTurns)  otherwise
 * Linear from 0 at freeTurns to −1 at T_max (paper: freeTurns 10, T_max 40 in stage 1, 80 in
 * stage 2, so 25 turns of 40 cost −0.5). |τ| counts assistant turns, format errors included.
 */
export function lengthPenalty(turns: number, maxTurns: number, freeTurns = DEFAULT_FREE_TURNS): number {
  requireInt('freeTurns', freeTurns, 0);
  requireInt('maxTurns', maxTurns, 1);
  if (maxTurns <= freeTurns) {
    throw invalidInput(`maxTurns (${maxTurns}) must exceed freeTurns (${freeTurns}) for the length penalty to be defined`, {
      maxTurns,
      freeTurns,
    });
  }
  requireTurnsWithin(turns, maxTurns);
  if (turns < freeTurns) return 0;
  return (freeTurns - turns) / (maxTurns - freeTurns);
}

/** A trajectory longer than T_max means the episode loop overran its limit: a bug, not a bigger penalty. */
function requireTurnsWithin(turns: number, maxTurns: number): void {
  requireInt('turns', turns, 0);
  requireInt('maxTurns', maxTurns, 1);
  if (turns > maxTurns) throw invalidInput(`trajectory has ${turns} turns, more than maxTurns ${maxTurns}`, { turns, maxTurns });
}

export type RewardShaping = Pick<RlStageConfig, 'maxTurns' | 'lengthPenalty'>;

/** The three numbers an episode row stores (episodes.reward, length_penalty, reward_final). */
export interface RewardBreakdown {
  /** R: 1 iff all FAIL_TO_PASS and PASS_TO_PASS tests pass after the agent's diff. */
  reward: number;
  /** R_len, 0 when the stage disables the penalty. */
  lengthPenalty: number;
  /** R + R_len: what the group advantage is computed from. */
  rewardFinal: number;
}

/**
 * R in [0, 1] (the paper's R is 0 or 1; fractional values are allowed for partial-credit
 * experiments). With the penalty disabled the turn count is still checked against T_max.
 */
export function rewardBreakdown(reward: number, turns: number, cfg: RewardShaping): RewardBreakdown {
  requireFinite('reward', reward);
  if (reward < 0 || reward > 1) throw invalidInput(`reward must be in [0, 1], got ${reward}`, { reward });
  let penalty = 0;
  if (cfg.lengthPenalty.enabled) {
    penalty = lengthPenalty(turns, cfg.maxTurns, cfg.lengthPenalty.freeTurns);
  } else {
    requireTurnsWithin(turns, cfg.maxTurns);
  }
  return { reward, lengthPenalty: penalty, rewardFinal: reward + penalty };
}

/** R_final = R + R_len. */
export function finalReward(reward: number, turns: number, cfg: RewardShaping): number {
  return rewardBreakdown(reward, turns, cfg).rewardFinal;
}
