/**
 * The messages a training run answers. Declared once and imported by the workflow and by clients,
 * so their names and payload types cannot drift apart.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export type RunPhase = 'starting' | 'running' | 'paused' | 'at-boundary' | 'aborting' | 'aborted' | 'completed' | 'failed';

export interface StageProgress {
  name: string;
  kind: 'rft' | 'rl' | 'eval';
  state: 'pending' | 'running' | 'done';
  iterationsDone: number;
  iterationsPlanned: number;
  /** rl stages: the curriculum snapshot row the stage samples from. */
  snapshotId?: string;
  /** The checkpoint the stage started from and the last one it produced. */
  baseCheckpointId?: string;
  finalCheckpointId?: string;
}

/** What the paper watches, per iteration (PAPER.md "What they watch during training"). */
export interface IterationReport {
  stage: string;
  iteration: number;
  /** The checkpoint that produced this iteration's rollouts. */
  policyVersion: string;
  /** The checkpoint this iteration's update produced (= policyVersion when nothing was trained). */
  checkpointId: string;
  episodes: number;
  rewardMean: number | null;
  /** Share of scored episodes with R = 1 (tests pass); R is 0/1 so this equals the mean of R. */
  passRate: number | null;
  submitRate: number | null;
  meanTurns: number | null;
  zeroAdvantageFraction: number;
  /** Mean over this iteration's update steps of the trainer's clip fraction; null with no step. */
  clipFraction: number | null;
  infraFailures: number;
  updateSteps: number;
  /** Wall time of the iteration (rollouts + update), for throughput. */
  durationSec: number;
  /** Mean over update steps of the trainer's sequence tokens per second; null with no step. */
  trainerTokensPerSec: number | null;
  /** Training–inference mismatch: mean over update steps of mean |rollout − trainer logprob| (RL steps of a trainer that measures it). */
  logprobMismatchMean?: number;
  /** The largest such gap of any token in the iteration. */
  logprobMismatchMax?: number;
}

export interface EvalOutcome {
  evalId: string;
  checkpointId: string;
  pass1: number;
  sem: number | null;
  passK: number;
  k: number;
  tasks: number;
}

/** A run waiting for a human between two stages. */
export interface BoundaryState {
  fromStage: string;
  toStage: string;
  /** The checkpoint the next stage starts from unless the promotion names another. */
  checkpointId: string;
  eval?: EvalOutcome;
  minPass1: number;
  gateMet: boolean;
  since: string;
}

export interface PromoteRequest {
  who: string;
  reason: string;
  /** Promote past an unmet eval gate; needs a reason. */
  force?: boolean;
  /** Start the next stage from this checkpoint of the run (default: the boundary's). */
  checkpointId?: string;
}

export interface PromoteResult {
  promotionId: string;
  fromStage: string;
  toStage: string;
  checkpointId: string;
  forced: boolean;
  evalId?: string;
}

export interface RunStatus {
  runId: string;
  name: string;
  phase: RunPhase;
  /** Index into `stages` of the stage being run (or the next one at a boundary). */
  stageIndex: number;
  stages: StageProgress[];
  pausedBy?: { who: string; reason: string };
  abortReason?: string;
  /** Times this workflow run continued as new; counters survive it. */
  continuedAsNew: number;
  counters: { episodes: number; infraFailures: number; updateSteps: number };
  /** Which stage executor runs this run: the foundation's smoke recorder or the training loop. */
  executor?: 'smoke' | 'loop';
  /** The checkpoint the next rollouts are sampled from. */
  policyVersion?: string;
  /** Checkpoint ids this run produced (the promote validator's "checkpoint exists"). */
  checkpoints?: string[];
  /** The most recent iterations, oldest first (bounded, so status stays small). */
  iterations?: IterationReport[];
  evals?: EvalOutcome[];
  boundary?: BoundaryState;
  promotions?: PromoteResult[];
  failure?: { code: string; message: string };
  startedAt: string;
  updatedAt: string;
}

export interface OperatorAction {
  who: string;
  reason: string;
}

export const statusQuery = defineQuery<RunStatus>('status');
export const pauseSignal = defineSignal<[OperatorAction]>('pause');
export const resumeSignal = defineSignal<[OperatorAction]>('resume');
export const abortSignal = defineSignal<[OperatorAction]>('abort');
export const promoteUpdate = defineUpdate<PromoteResult, [PromoteRequest]>('promote');
