/**
 * Every error a user can see carries a stable code. One base class, one subclass per family, and
 * a single mapping to Temporal's ApplicationFailure that says which failures are retryable (infra)
 * and which are final (bad config, bad task). Pure: imported by workflows and activities alike.
 */
import { ApplicationFailure } from '@temporalio/common';

export const ErrorCodes = {
  // configuration
  CONFIG_INVALID: 'SWERL_CONFIG_INVALID',
  CONFIG_NOT_FOUND: 'SWERL_CONFIG_NOT_FOUND',
  // another live process polls this rollout worker's host queue (one SWERL_HOST_ID for two processes): refused at start
  HOST_QUEUE_TAKEN: 'SWERL_HOST_QUEUE_TAKEN',
  // tasks (bad task: rejected at import, quarantined, never trained on)
  TASK_INVALID: 'SWERL_TASK_INVALID',
  TASK_NOT_FOUND: 'SWERL_TASK_NOT_FOUND',
  TASK_PATCH_DOES_NOT_APPLY: 'SWERL_TASK_PATCH_DOES_NOT_APPLY',
  TASK_GOLD_FAILS: 'SWERL_TASK_GOLD_FAILS',
  TASK_FAIL_TO_PASS_PASSES: 'SWERL_TASK_FAIL_TO_PASS_PASSES',
  TASK_FILTERED: 'SWERL_TASK_FILTERED',
  // the repository sources hold the repo but not the base commit, or not every blob of its tree
  TASK_REPO_INCOMPLETE: 'SWERL_TASK_REPO_INCOMPLETE',
  // the task's environment cannot run its tests (collection error, missing module): the task's fault, not infra
  TASK_ENV_BROKEN: 'SWERL_TASK_ENV_BROKEN',
  // import: validation hit infra failures past its retry bound; the task is deferred (neither accepted nor quarantined)
  TASK_VALIDATION_INCOMPLETE: 'SWERL_TASK_VALIDATION_INCOMPLETE',
  // sandbox (infra: retried, counted, never scored as 0)
  IMAGE_BUILD_FAILED: 'SWERL_IMAGE_BUILD_FAILED',
  // a repository source could not be reached (network, a git error of the host): infra
  REPO_FETCH_FAILED: 'SWERL_REPO_FETCH_FAILED',
  SANDBOX_START_FAILED: 'SWERL_SANDBOX_START_FAILED',
  SANDBOX_GONE: 'SWERL_SANDBOX_GONE',
  SANDBOX_EXEC_FAILED: 'SWERL_SANDBOX_EXEC_FAILED',
  // a path in the sandbox that cannot be read/written (missing, a directory, no permission): the caller's fault, not retried
  SANDBOX_FILE_ERROR: 'SWERL_SANDBOX_FILE_ERROR',
  // the agent's end-of-episode diff is over the cap: scored as an empty patch, never retried
  SANDBOX_DIFF_TOO_LARGE: 'SWERL_SANDBOX_DIFF_TOO_LARGE',
  // the episode's sandbox died more than sandbox.maxRebuilds times: the episode ends unscored
  SANDBOX_LOST: 'SWERL_SANDBOX_LOST',
  LEASE_UNAVAILABLE: 'SWERL_LEASE_UNAVAILABLE',
  // an interrupted demo could not remove its sandboxes within its bound: the message names them and the command that removes them
  SANDBOX_RELEASE_TIMEOUT: 'SWERL_SANDBOX_RELEASE_TIMEOUT',
  REWARD_HARNESS_CRASHED: 'SWERL_REWARD_HARNESS_CRASHED',
  // the reward harness crashed on every one of its bounded attempts (Docker answering, its container running): the episode ends failed, unscored
  REWARD_UNAVAILABLE: 'SWERL_REWARD_UNAVAILABLE',
  // the reward could not run for the environment's sake (Docker unreachable, its container stopped or killed under it): infra, retried
  REWARD_INFRA_FAILED: 'SWERL_REWARD_INFRA_FAILED',
  // the reward's infra failures outlasted timeouts.rewardInfraSec: the episode ends failed, unscored
  REWARD_INFRA_EXHAUSTED: 'SWERL_REWARD_INFRA_EXHAUSTED',
  // more than rollout.maxUnscoredFraction of an iteration's episodes ended unscored (infra_failure, sandbox_lost): the iteration fails
  UNSCORED_FRACTION_EXCEEDED: 'SWERL_UNSCORED_FRACTION_EXCEEDED',
  // policy
  POLICY_UNAVAILABLE: 'SWERL_POLICY_UNAVAILABLE',
  POLICY_BAD_RESPONSE: 'SWERL_POLICY_BAD_RESPONSE',
  DECODING_MISMATCH: 'SWERL_DECODING_MISMATCH',
  // the trainer's logprobs of the sampled tokens differ from the sampler's beyond policy.maxLogprobMismatch: the run pauses
  LOGPROB_MISMATCH: 'SWERL_LOGPROB_MISMATCH',
  // the policy server answered for another policy version than the episode's (not retried: rollouts would go off-policy)
  POLICY_VERSION_MISMATCH: 'SWERL_POLICY_VERSION_MISMATCH',
  // agent format errors (model failure: shown to the agent as an observation, the turn counts, never retried)
  FORMAT_NO_BLOCK: 'SWERL_FORMAT_NO_BLOCK',
  FORMAT_MULTIPLE_BLOCKS: 'SWERL_FORMAT_MULTIPLE_BLOCKS',
  FORMAT_BAD_ARGS: 'SWERL_FORMAT_BAD_ARGS',
  FORMAT_EMPTY: 'SWERL_FORMAT_EMPTY',
  // trainer
  TRAINER_FAILED: 'SWERL_TRAINER_FAILED',
  TRAINER_STEP_CONFLICT: 'SWERL_TRAINER_STEP_CONFLICT',
  TRAINER_BAD_BATCH: 'SWERL_TRAINER_BAD_BATCH',
  CHECKPOINT_NOT_FOUND: 'SWERL_CHECKPOINT_NOT_FOUND',
  CHECKPOINT_INVALID: 'SWERL_CHECKPOINT_INVALID',
  // experiment trackers (swerl track): the writer process failed; nothing was marked exported
  TRACKER_FAILED: 'SWERL_TRACKER_FAILED',
  // runs and promotion
  RUN_NOT_FOUND: 'SWERL_RUN_NOT_FOUND',
  RUN_STATE_INVALID: 'SWERL_RUN_STATE_INVALID',
  PROMOTE_REJECTED: 'SWERL_PROMOTE_REJECTED',
  EPISODE_NOT_FOUND: 'SWERL_EPISODE_NOT_FOUND',
  EPISODE_STATE_INVALID: 'SWERL_EPISODE_STATE_INVALID',
  // an operator's rescore or fork that cannot apply to the stored episode (no stored patch, turn k out of range, a submit among the copied turns)
  EPISODE_OPERATION_INVALID: 'SWERL_EPISODE_OPERATION_INVALID',
  CURRICULUM_SNAPSHOT_NOT_FOUND: 'SWERL_CURRICULUM_SNAPSHOT_NOT_FOUND',
  // database
  DB_UNAVAILABLE: 'SWERL_DB_UNAVAILABLE',
  DB_MIGRATION_FAILED: 'SWERL_DB_MIGRATION_FAILED',
  // local dev stack
  STACK_PORT_IN_USE: 'SWERL_STACK_PORT_IN_USE',
  STACK_START_FAILED: 'SWERL_STACK_START_FAILED',
  STACK_NOT_RUNNING: 'SWERL_STACK_NOT_RUNNING',
  STACK_DEPENDENCY_MISSING: 'SWERL_STACK_DEPENDENCY_MISSING',
  // the Temporal service kept answering UNAVAILABLE / DEADLINE_EXCEEDED past a CLI wait's bound (`swerl start --wait`)
  TEMPORAL_UNAVAILABLE: 'SWERL_TEMPORAL_UNAVAILABLE',
  // a SIGTERMed worker whose shutdown outlived SWERL_WORKER_SHUTDOWN_FORCE_SEC (+30 s): it exits, its activities are retried elsewhere
  WORKER_SHUTDOWN_FORCED: 'SWERL_WORKER_SHUTDOWN_FORCED',
  // operator console (`swerl dashboard`): a mutation without the token, from another origin, or malformed
  DASHBOARD_FORBIDDEN: 'SWERL_DASHBOARD_FORBIDDEN',
  DASHBOARD_BAD_REQUEST: 'SWERL_DASHBOARD_BAD_REQUEST',
  // RL math (core/rl): a caller passed numbers the formulas are not defined for (a bug upstream, not retried)
  RL_INPUT_INVALID: 'SWERL_RL_INPUT_INVALID',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Codes that describe a broken environment rather than a bad input: Temporal retries these. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCodes.SANDBOX_START_FAILED,
  ErrorCodes.SANDBOX_GONE,
  ErrorCodes.SANDBOX_EXEC_FAILED,
  ErrorCodes.LEASE_UNAVAILABLE,
  ErrorCodes.REWARD_HARNESS_CRASHED,
  ErrorCodes.REWARD_INFRA_FAILED,
  ErrorCodes.POLICY_UNAVAILABLE,
  ErrorCodes.TRAINER_FAILED,
  ErrorCodes.DB_UNAVAILABLE,
  ErrorCodes.IMAGE_BUILD_FAILED,
  ErrorCodes.REPO_FETCH_FAILED,
]);

export function isRetryableCode(code: ErrorCode): boolean {
  return RETRYABLE.has(code);
}

export class SwerlError extends Error {
  override readonly name: string = 'SwerlError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
  }

  get retryable(): boolean {
    return isRetryableCode(this.code);
  }

  /** The one mapping to Temporal: the failure type is the code, so workflows can match on it. */
  toApplicationFailure(): ApplicationFailure {
    return ApplicationFailure.create({
      type: this.code,
      message: this.message,
      details: [this.details],
      nonRetryable: !this.retryable,
      cause: this.cause instanceof Error ? this.cause : undefined,
    });
  }
}

export class ConfigError extends SwerlError {
  override readonly name = 'ConfigError';
}
export class TaskError extends SwerlError {
  override readonly name = 'TaskError';
}
export class SandboxError extends SwerlError {
  override readonly name = 'SandboxError';
}
export class PolicyError extends SwerlError {
  override readonly name = 'PolicyError';
}
export class TrainerError extends SwerlError {
  override readonly name = 'TrainerError';
}
export class RunError extends SwerlError {
  override readonly name = 'RunError';
}
export class DbError extends SwerlError {
  override readonly name = 'DbError';
}
export class StackError extends SwerlError {
  override readonly name = 'StackError';
}

/** Activities wrap their bodies with this so that every SwerlError crosses into Temporal typed. */
export function toTemporalFailure(err: unknown): unknown {
  return err instanceof SwerlError ? err.toApplicationFailure() : err;
}

/** The code of an error or of a Temporal failure that carried one, if any. */
export function errorCodeOf(err: unknown): ErrorCode | undefined {
  let cur: unknown = err;
  for (let depth = 0; cur && depth < 8; depth++) {
    if (cur instanceof SwerlError) return cur.code;
    const type = (cur as { type?: unknown }).type;
    if (typeof type === 'string' && type.startsWith('SWERL_')) return type as ErrorCode;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}
