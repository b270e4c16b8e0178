/**
 * The Postgres schema of swerl (DESIGN.md "Data").
 *
 * One rule shapes every table: Temporal retries activities, so any write an activity makes must
 * land once no matter how often it runs. Each table therefore has a natural key (or a text id the
 * workflow derives deterministically before the insert) and writers use ON CONFLICT on that key.
 * Serial ids are avoided wherever a workflow must know an id before the row exists.
 *
 * Status columns are text with CHECK constraints rather than pg enums: enums cannot drop values
 * and their ALTERs are awkward inside migration transactions; a CHECK is replaced in one statement.
 * Timestamps are timestamptz; free-form payloads (config, metrics, decoding params) are jsonb.
 */
import { sql, type SQL } from 'drizzle-orm';
import {
  type AnyPgColumn,
  boolean,
  check,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
  unique,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

/** Lifecycle values, shared by the CHECK constraints below and the TypeScript types. */
export const RUN_STATUSES = ['pending', 'running', 'paused', 'awaiting_promotion', 'completed', 'failed', 'aborted'] as const;
export const STAGE_STATUSES = ['pending', 'running', 'completed', 'failed', 'aborted'] as const;
export const STAGE_KINDS = ['rft', 'rl', 'eval'] as const;
export const ITERATION_STATUSES = ['rolling_out', 'training', 'completed', 'failed'] as const;
/** `failed` = given up after infra failures: such an episode is never scored (DESIGN.md failure classes). */
export const EPISODE_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export const TURN_ROLES = ['system', 'user', 'assistant', 'tool'] as const;
export const CHECKPOINT_KINDS = ['base', 'sft', 'rl'] as const;
export const TRAINER_STEP_STATUSES = ['started', 'applied'] as const;
export const TRAINER_STEP_KINDS = ['sft', 'dapo'] as const;
export const LEASE_STATUSES = ['active', 'released', 'expired'] as const;
export const EPISODE_OPERATION_KINDS = ['rescore', 'fork'] as const;
export const EPISODE_OPERATION_STATUSES = ['running', 'completed', 'failed'] as const;

export type RunStatus = (typeof RUN_STATUSES)[number];
export type StageStatus = (typeof STAGE_STATUSES)[number];
export type StageKind = (typeof STAGE_KINDS)[number];
export type IterationStatus = (typeof ITERATION_STATUSES)[number];
export type EpisodeStatus = (typeof EPISODE_STATUSES)[number];
export type TurnRole = (typeof TURN_ROLES)[number];
export type CheckpointKind = (typeof CHECKPOINT_KINDS)[number];
export type TrainerStepStatus = (typeof TRAINER_STEP_STATUSES)[number];
export type TrainerStepKind = (typeof TRAINER_STEP_KINDS)[number];
export type LeaseStatus = (typeof LEASE_STATUSES)[number];
export type EpisodeOperationKind = (typeof EPISODE_OPERATION_KINDS)[number];
export type EpisodeOperationStatus = (typeof EPISODE_OPERATION_STATUSES)[number];

/**
 * Why an episode ended. Kept as typed text without a CHECK: new exit reasons come from the
 * episode workflow and should not need a migration to be recorded.
 */
/** sandbox_lost: the sandbox died more than sandbox.maxRebuilds times (unscored, like infra_failure). */
export type EpisodeExitReason = 'submitted' | 'max_turns' | 'context_overflow' | 'cancelled' | 'infra_failure' | 'sandbox_lost';

/** One test of a task's FAIL_TO_PASS / PASS_TO_PASS lists, as the reward harness saw it. */
export interface TestOutcome {
  name: string;
  list: 'FAIL_TO_PASS' | 'PASS_TO_PASS';
  outcome: 'passed' | 'failed' | 'error' | 'skipped' | 'missing';
  durationMs?: number;
}

function oneOf(column: AnyPgColumn, values: readonly string[]): SQL {
  // CHECK bodies are DDL: drizzle-kit needs literal SQL here, not bind parameters.
  const list = values.map((v) => `'${v.replace(/'/g, "''")}'`).join(', ');
  return sql`${column} in (${sql.raw(list)})`;
}

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
const updatedAt = () =>
  timestamp('updated_at', { withTimezone: true })
    .notNull()
    .defaultNow()
    .$onUpdate(() => new Date());
const jsonObject = (name: string) => jsonb(name).$type<Record<string, unknown>>().notNull().default({});

// ---------------------------------------------------------------------------------------------
// Runs, stages, iterations: the plan of a training run as the workflows execute it.

/** A multi-day training run; `id` is chosen by the CLI before the workflow starts. */
export const runs = pgTable(
  'runs',
  {
    id: text('id').primaryKey(),
    workflowId: text('workflow_id').notNull(),
    name: text('name').notNull(),
    config: jsonb('config').$type<Record<string, unknown>>().notNull(),
    status: text('status').$type<RunStatus>().notNull().default('pending'),
    currentStage: text('current_stage'),
    currentCheckpointId: text('current_checkpoint_id'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('runs_workflow_id_key').on(t.workflowId),
    index('runs_status_idx').on(t.status),
    check('runs_status_check', oneOf(t.status, RUN_STATUSES)),
  ],
);

/** Keyed by (run, stage name): stage names are unique within a run config (core/config.ts). */
export const stages = pgTable(
  'stages',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    idx: integer('idx').notNull(),
    kind: text('kind').$type<StageKind>().notNull(),
    status: text('status').$type<StageStatus>().notNull().default('pending'),
    baseCheckpointId: text('base_checkpoint_id'),
    finalCheckpointId: text('final_checkpoint_id'),
    curriculumSnapshotId: text('curriculum_snapshot_id'),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ name: 'stages_pkey', columns: [t.runId, t.name] }),
    unique('stages_run_idx_key').on(t.runId, t.idx),
    check('stages_kind_check', oneOf(t.kind, STAGE_KINDS)),
    check('stages_status_check', oneOf(t.status, STAGE_STATUSES)),
  ],
);

/**
 * One RL iteration (RFT and eval stages use iteration 0). Holds the ids the iteration workflow
 * produced so that `swerl status` can show progress per iteration without replaying history.
 */
export const iterations = pgTable(
  'iterations',
  {
    runId: text('run_id').notNull(),
    stage: text('stage').notNull(),
    idx: integer('idx').notNull(),
    status: text('status').$type<IterationStatus>().notNull().default('rolling_out'),
    policyVersion: text('policy_version').notNull(),
    curriculumSnapshotId: text('curriculum_snapshot_id'),
    outputCheckpointId: text('output_checkpoint_id'),
    metrics: jsonObject('metrics'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ name: 'iterations_pkey', columns: [t.runId, t.stage, t.idx] }),
    foreignKey({ name: 'iterations_stage_fkey', columns: [t.runId, t.stage], foreignColumns: [stages.runId, stages.name] })
      .onDelete('cascade'),
    check('iterations_status_check', oneOf(t.status, ITERATION_STATUSES)),
  ],
);

// ---------------------------------------------------------------------------------------------
// Tasks and what the curriculum knows about them.

/** A task in SWE-bench form. `content_hash` lets a re-import detect that an id now means other content. */
export const tasks = pgTable(
  'tasks',
  {
    id: text('id').primaryKey(),
    suite: text('suite').notNull(),
    split: text('split').notNull().default('train'),
    repo: text('repo').notNull(),
    baseCommit: text('base_commit').notNull(),
    problemStatement: text('problem_statement').notNull(),
    goldPatch: text('gold_patch').notNull(),
    testPatch: text('test_patch').notNull(),
    failToPass: jsonb('fail_to_pass').$type<string[]>().notNull(),
    passToPass: jsonb('pass_to_pass').$type<string[]>().notNull(),
    image: text('image'),
    contentHash: text('content_hash').notNull(),
    metadata: jsonObject('metadata'),
    /** The JSONL line as imported (every SWE-bench field byte for byte, extra fields verbatim); null for rows imported before it was kept. */
    sourceLine: text('source_line'),
    createdAt: createdAt(),
  },
  (t) => [index('tasks_suite_split_idx').on(t.suite, t.split)],
);

/**
 * Bad tasks are rejected at import and never trained on. Not a foreign key to `tasks`: a task that
 * fails validation (e.g. invalid JSONL) never becomes a row there.
 */
export const taskQuarantine = pgTable(
  'task_quarantine',
  {
    suite: text('suite').notNull(),
    taskId: text('task_id').notNull(),
    code: text('code').notNull(),
    message: text('message').notNull(),
    details: jsonObject('details'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ name: 'task_quarantine_pkey', columns: [t.suite, t.taskId] })],
);

/**
 * Attempts and solves per task per stage of one run: the input of the stage-2 curriculum rule.
 * Scoped by run so that two runs on the same suite do not pollute each other's curriculum.
 * Only ever written through task_stat_events (see db/taskStats.ts) so each episode counts once.
 */
export const taskStats = pgTable(
  'task_stats',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    stage: text('stage').notNull(),
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id),
    attempts: integer('attempts').notNull().default(0),
    solves: integer('solves').notNull().default(0),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ name: 'task_stats_pkey', columns: [t.runId, t.stage, t.taskId] }),
    check('task_stats_solves_check', sql`${t.solves} >= 0 and ${t.solves} <= ${t.attempts}`),
  ],
);

/** The exactly-once guard of task_stats: one row per counted episode, so a retried count is a no-op. */
export const taskStatEvents = pgTable('task_stat_events', {
  episodeId: text('episode_id')
    .primaryKey()
    .references(() => episodes.id, { onDelete: 'cascade' }),
  runId: text('run_id').notNull(),
  stage: text('stage').notNull(),
  taskId: text('task_id').notNull(),
  solved: boolean('solved').notNull(),
  createdAt: createdAt(),
});

/** A versioned, immutable curriculum pool; workflows hold only its id. */
export const curriculumSnapshots = pgTable(
  'curriculum_snapshots',
  {
    id: text('id').primaryKey(),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    stage: text('stage').notNull(),
    version: integer('version').notNull(),
    rule: text('rule').notNull(),
    params: jsonObject('params'),
    taskIds: jsonb('task_ids').$type<string[]>().notNull(),
    taskCount: integer('task_count').notNull(),
    createdAt: createdAt(),
  },
  (t) => [unique('curriculum_snapshots_run_stage_version_key').on(t.runId, t.stage, t.version)],
);

// ---------------------------------------------------------------------------------------------
// Episodes and their turns.

/**
 * One rollout. `id` is derived by the workflow (e.g. from run/stage/iteration/task/sample) so the
 * activity that creates it can be retried; the natural key below rejects a second id for the same
 * slot. `reward` is the test outcome R, `reward_final` adds the length penalty (PAPER.md).
 */
export const episodes = pgTable(
  'episodes',
  {
    id: text('id').primaryKey(),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    stage: text('stage').notNull(),
    iteration: integer('iteration').notNull().default(0),
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id),
    sampleIdx: integer('sample_idx').notNull(),
    workflowId: text('workflow_id'),
    status: text('status').$type<EpisodeStatus>().notNull().default('pending'),
    policyVersion: text('policy_version').notNull(),
    /** Recorded per trajectory: a sampler mismatch with the trainer is an error (PAPER.md). */
    decoding: jsonb('decoding').$type<Record<string, unknown>>().notNull(),
    maxTurns: integer('max_turns').notNull(),
    contextTokens: integer('context_tokens').notNull(),
    /**
     * What the episode's activities need besides ids (policy endpoint, sandbox limits, turn
     * limits), stored once so that the workflow's per-turn activity inputs stay a few ids long.
     */
    spec: jsonb('spec').$type<Record<string, unknown>>(),
    /** Maintained by appendTurn, once per turn: assistant turns (|τ|), largest prompt, summed completions. */
    turnCount: integer('turn_count').notNull().default(0),
    promptTokens: integer('prompt_tokens').notNull().default(0),
    completionTokens: integer('completion_tokens').notNull().default(0),
    exitReason: text('exit_reason').$type<EpisodeExitReason>(),
    patch: text('patch'),
    reward: real('reward'),
    lengthPenalty: real('length_penalty'),
    rewardFinal: real('reward_final'),
    /** Infra failures are retried and counted here, never scored as 0. */
    infraFailures: integer('infra_failures').notNull().default(0),
    /**
     * Reward attempts that ended in a harness crash while Docker answered and the reward container
     * still ran (the harness's or the agent's doing, not infra): bounded by REWARD_MAX_ATTEMPTS.
     */
    rewardHarnessCrashes: integer('reward_harness_crashes').notNull().default(0),
    lastErrorCode: text('last_error_code'),
    createdAt: createdAt(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('episodes_slot_key').on(t.runId, t.stage, t.iteration, t.taskId, t.sampleIdx),
    index('episodes_task_idx').on(t.taskId),
    index('episodes_run_status_idx').on(t.runId, t.status),
    check('episodes_status_check', oneOf(t.status, EPISODE_STATUSES)),
    check('episodes_reward_scored_check', sql`${t.reward} is null or ${t.status} = 'completed'`),
  ],
);

/**
 * Append-only (an UPDATE trigger in the migrations enforces it): a persisted turn is never
 * regenerated on resume. Token ids and logprobs are inline jsonb; `tokens_ref` points elsewhere
 * when a turn is too large to keep inline.
 */
export const turns = pgTable(
  'turns',
  {
    episodeId: text('episode_id')
      .notNull()
      .references(() => episodes.id, { onDelete: 'cascade' }),
    idx: integer('idx').notNull(),
    role: text('role').$type<TurnRole>().notNull(),
    text: text('text').notNull(),
    tokenIds: jsonb('token_ids').$type<number[]>(),
    logprobs: jsonb('logprobs').$type<number[]>(),
    tokensRef: text('tokens_ref'),
    promptTokens: integer('prompt_tokens'),
    completionTokens: integer('completion_tokens'),
    formatError: boolean('format_error').notNull().default(false),
    tool: text('tool'),
    command: text('command'),
    exitCode: integer('exit_code'),
    outputTruncated: boolean('output_truncated').notNull().default(false),
    durationMs: integer('duration_ms'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: 'turns_pkey', columns: [t.episodeId, t.idx] }),
    check('turns_role_check', oneOf(t.role, TURN_ROLES)),
    check('turns_idx_check', sql`${t.idx} >= 0`),
  ],
);

/** Test provenance of an episode's reward: which tests ran, how they ended, the tail of the output. */
export const rewardResults = pgTable('reward_results', {
  episodeId: text('episode_id')
    .primaryKey()
    .references(() => episodes.id, { onDelete: 'cascade' }),
  resolved: boolean('resolved').notNull(),
  patchApplied: boolean('patch_applied').notNull(),
  tests: jsonb('tests').$type<TestOutcome[]>().notNull(),
  harnessExitCode: integer('harness_exit_code'),
  durationMs: integer('duration_ms').notNull(),
  outputTail: text('output_tail').notNull().default(''),
  createdAt: createdAt(),
});

// ---------------------------------------------------------------------------------------------
// Checkpoints, training steps, evals, promotions.

/** Lineage of policy weights. Base models have no run, stage or parent. */
export const checkpoints = pgTable(
  'checkpoints',
  {
    id: text('id').primaryKey(),
    parentId: text('parent_id').references((): AnyPgColumn => checkpoints.id),
    runId: text('run_id').references(() => runs.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<CheckpointKind>().notNull(),
    stage: text('stage'),
    iteration: integer('iteration'),
    path: text('path').notNull(),
    metrics: jsonObject('metrics'),
    createdAt: createdAt(),
  },
  (t) => [
    index('checkpoints_parent_idx').on(t.parentId),
    index('checkpoints_run_stage_iteration_idx').on(t.runId, t.stage, t.iteration),
    check('checkpoints_kind_check', oneOf(t.kind, CHECKPOINT_KINDS)),
  ],
);

/**
 * The trainer's ledger keyed by the idempotency key (run, stage, iteration, step). A retried
 * trainStep finds its row: `applied` means return the stored checkpoint instead of training again;
 * a different `batch_digest` under the same key means two different batches claim one step.
 */
export const trainerSteps = pgTable(
  'trainer_steps',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    stage: text('stage').notNull(),
    iteration: integer('iteration').notNull(),
    step: integer('step').notNull(),
    kind: text('kind').$type<TrainerStepKind>().notNull(),
    status: text('status').$type<TrainerStepStatus>().notNull().default('started'),
    batchDigest: text('batch_digest').notNull(),
    inputCheckpointId: text('input_checkpoint_id').notNull(),
    outputCheckpointId: text('output_checkpoint_id'),
    metrics: jsonObject('metrics'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    appliedAt: timestamp('applied_at', { withTimezone: true }),
  },
  (t) => [
    primaryKey({ name: 'trainer_steps_pkey', columns: [t.runId, t.stage, t.iteration, t.step] }),
    check('trainer_steps_kind_check', oneOf(t.kind, TRAINER_STEP_KINDS)),
    check('trainer_steps_status_check', oneOf(t.status, TRAINER_STEP_STATUSES)),
    check('trainer_steps_applied_check', sql`${t.status} <> 'applied' or ${t.outputCheckpointId} is not null`),
  ],
);


/**
 * The slots of one iteration (or stage, or eval) fanned out through shard workflows: slot → task,
 * sample and episode id, written once by the planning activity (deterministic, so a retry writes
 * the same rows). Shards and the aggregating activities address episodes by (run, stage,
 * iteration, slot range) instead of carrying id lists through workflow inputs and results.
 * `group_idx` is the problem draw the slot belongs to (RL groups; RFT and eval: the task).
 * `outcome` is set when the slot's leaf shard has recorded it (its episode's final state).
 */
export const iterationSlots = pgTable(
  'iteration_slots',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    stage: text('stage').notNull(),
    iteration: integer('iteration').notNull(),
    slot: integer('slot').notNull(),
    groupIdx: integer('group_idx').notNull(),
    taskId: text('task_id').notNull(),
    sampleIdx: integer('sample_idx').notNull(),
    episodeId: text('episode_id').notNull(),
    outcome: jsonb('outcome').$type<{ status: string; reward: number | null; scored: boolean }>(),
  },
  (t) => [
    primaryKey({ name: 'iteration_slots_pkey', columns: [t.runId, t.stage, t.iteration, t.slot] }),
    unique('iteration_slots_episode_key').on(t.episodeId),
  ],
);

/**
 * The optimizer steps an iteration's batch plan formed (episode ids and advantages per step),
 * written by the batch activity so that the plan's result stays a count: the update segment
 * workflows load one step at a time by (run, stage, iteration, step).
 */
export const updateSteps = pgTable(
  'update_steps',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    stage: text('stage').notNull(),
    iteration: integer('iteration').notNull(),
    step: integer('step').notNull(),
    episodeIds: jsonb('episode_ids').$type<string[]>().notNull(),
    advantages: jsonb('advantages').$type<number[]>().notNull(),
  },
  (t) => [primaryKey({ name: 'update_steps_pkey', columns: [t.runId, t.stage, t.iteration, t.step] })],
);

/** Pass@1 mean ± SEM and Pass@k of one checkpoint on one split (PAPER.md evaluation protocol). */
export const evals = pgTable(
  'evals',
  {
    id: text('id').primaryKey(),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    stage: text('stage').notNull(),
    iteration: integer('iteration'),
    checkpointId: text('checkpoint_id').notNull(),
    split: text('split').notNull(),
    k: integer('k').notNull(),
    taskCount: integer('task_count').notNull(),
    pass1Mean: real('pass1_mean').notNull(),
    pass1Sem: real('pass1_sem').notNull(),
    passK: real('pass_k').notNull(),
    perTask: jsonb('per_task').$type<Record<string, { solved: number; runs: number }>>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('evals_run_stage_idx').on(t.runId, t.stage), index('evals_checkpoint_idx').on(t.checkpointId)],
);

/** Who moved a run across a stage boundary, when, why, and on which checkpoint. */
export const promotions = pgTable(
  'promotions',
  {
    /** The Temporal Update id: a retried Update writes the same row. */
    id: text('id').primaryKey(),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    fromStage: text('from_stage').notNull(),
    toStage: text('to_stage').notNull(),
    checkpointId: text('checkpoint_id').notNull(),
    actor: text('actor').notNull(),
    reason: text('reason').notNull(),
    forced: boolean('forced').notNull().default(false),
    evalId: text('eval_id'),
    createdAt: createdAt(),
  },
  (t) => [unique('promotions_run_from_stage_key').on(t.runId, t.fromStage)],
);

/**
 * An operator's action on one stored episode, recorded by its workflow (who, why, what came of it):
 * `rescore` grades the episode's stored patch again (the episode's own reward, which training may
 * have used, stays as it was; the new grade lives here, with `grader_runs` counting harness runs),
 * `fork` starts a new episode whose first `at_turn` agent turns are copied from this one and whose
 * later turns come from `policy_version` (`result_episode_id`).
 */
export const episodeOperations = pgTable(
  'episode_operations',
  {
    /** Chosen by the requester before the workflow starts: a repeated request writes the same row. */
    id: text('id').primaryKey(),
    kind: text('kind').$type<EpisodeOperationKind>().notNull(),
    episodeId: text('episode_id')
      .notNull()
      .references(() => episodes.id, { onDelete: 'cascade' }),
    workflowId: text('workflow_id').notNull(),
    actor: text('actor').notNull(),
    reason: text('reason').notNull(),
    status: text('status').$type<EpisodeOperationStatus>().notNull().default('running'),
    atTurn: integer('at_turn'),
    policyVersion: text('policy_version'),
    resultEpisodeId: text('result_episode_id'),
    graderRuns: integer('grader_runs').notNull().default(0),
    reward: real('reward'),
    /** The rescore's grade: reason, patch applied, each test's outcome, the harness log tail. */
    result: jsonb('result').$type<Record<string, unknown>>(),
    errorCode: text('error_code'),
    error: text('error'),
    createdAt: createdAt(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    index('episode_operations_episode_idx').on(t.episodeId),
    index('episode_operations_result_episode_idx').on(t.resultEpisodeId),
    check('episode_operations_kind_check', oneOf(t.kind, EPISODE_OPERATION_KINDS)),
    check('episode_operations_status_check', oneOf(t.status, EPISODE_OPERATION_STATUSES)),
  ],
);

// ---------------------------------------------------------------------------------------------
// Sandboxes.

/**
 * A sandbox container held by an episode on one Docker host. Leases expire unless renewed so a
 * reaper can remove containers whose worker died; an episode holds at most one active lease.
 */
export const sandboxLeases = pgTable(
  'sandbox_leases',
  {
    id: text('id').primaryKey(),
    runId: text('run_id').references(() => runs.id, { onDelete: 'cascade' }),
    episodeId: text('episode_id'),
    host: text('host').notNull(),
    image: text('image').notNull(),
    containerId: text('container_id'),
    status: text('status').$type<LeaseStatus>().notNull().default('active'),
    acquiredAt: timestamp('acquired_at', { withTimezone: true }).notNull().defaultNow(),
    renewedAt: timestamp('renewed_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    releasedAt: timestamp('released_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('sandbox_leases_active_episode_idx').on(t.episodeId).where(sql`${t.status} = 'active'`),
    index('sandbox_leases_host_status_idx').on(t.host, t.status),
    index('sandbox_leases_expires_idx').on(t.expiresAt).where(sql`${t.status} = 'active'`),
    check('sandbox_leases_status_check', oneOf(t.status, LEASE_STATUSES)),
  ],
);
