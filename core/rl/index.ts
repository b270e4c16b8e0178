/**
 * The pure RL math of swerl (PAPER.md "RL (modified DAPO)", "Data", "Evaluation"). Deterministic
 * and free of I/O: called inside Temporal workflows. Invalid inputs throw SWERL_RL_INPUT_INVALID.
 */
export { DEFAULT_FREE_TURNS, finalReward, lengthPenalty, rewardBreakdown, type RewardBreakdown, type RewardShaping } from './reward';
export {
  advantagesForGroups,
  groupAdvantages,
  selectTrainingSamples,
  zeroAdvantageFilter,
  type Group,
  type ScoredSample,
  type ZeroAdvantageFiltered,
} from './advantage';
export { batchesPerEpoch, formBatches, formGroupBatches, microBatches, rlBatchShaping, rlSteps, type RlBatchShaping, type BatchOptions, type BatchSample, type OptimizerStep } from './batch';
export { evalSummary, pass1MeanSem, passAtK, type EvalResult, type EvalSummary, type MeanSem, type TaskEval } from './passAtK';
export {
  applyCurriculumRule,
  filterStage2,
  statsForPool,
  type CurriculumResult,
  type CurriculumRule,
  type DropReason,
  type TaskStat,
} from './curriculum';
export { createRng, deriveSeed, sampleProblems, shuffle, type Rng } from './sampling';
export { iterationMetrics, type EpisodeSummary, type ExitReason, type IterationMetrics } from './metrics';
