CREATE TABLE "checkpoints" (
	"id" text PRIMARY KEY NOT NULL,
	"parent_id" text,
	"run_id" text,
	"kind" text NOT NULL,
	"stage" text,
	"iteration" integer,
	"path" text NOT NULL,
	"metrics" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "checkpoints_kind_check" CHECK ("checkpoints"."kind" in ('base', 'sft', 'rl'))
);
--> statement-breakpoint
CREATE TABLE "curriculum_snapshots" (
	"id" text PRIMARY KEY NOT NULL,
	"run_id" text NOT NULL,
	"stage" text NOT NULL,
	"version" integer NOT NULL,
	"rule" text NOT NULL,
	"params" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"task_ids" jsonb NOT NULL,
	"task_count" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "curriculum_snapshots_run_stage_version_key" UNIQUE("run_id","stage","version")
);
--> statement-breakpoint
CREATE TABLE "episodes" (
	"id" text PRIMARY KEY NOT NULL,
	"run_id" text NOT NULL,
	"stage" text NOT NULL,
	"iteration" integer DEFAULT 0 NOT NULL,
	"task_id" text NOT NULL,
	"sample_idx" integer NOT NULL,
	"workflow_id" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"policy_version" text NOT NULL,
	"decoding" jsonb NOT NULL,
	"max_turns" integer NOT NULL,
	"context_tokens" integer NOT NULL,
	"turn_count" integer DEFAULT 0 NOT NULL,
	"prompt_tokens" integer DEFAULT 0 NOT NULL,
	"completion_tokens" integer DEFAULT 0 NOT NULL,
	"exit_reason" text,
	"patch" text,
	"reward" real,
	"length_penalty" real,
	"reward_final" real,
	"infra_failures" integer DEFAULT 0 NOT NULL,
	"last_error_code" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "episodes_slot_key" UNIQUE("run_id","stage","iteration","task_id","sample_idx"),
	CONSTRAINT "episodes_status_check" CHECK ("episodes"."status" in ('pending', 'running', 'completed', 'failed', 'cancelled')),
	CONSTRAINT "episodes_reward_scored_check" CHECK ("episodes"."reward" is null or "episodes"."status" = 'completed')
);
--> statement-breakpoint
CREATE TABLE "evals" (
	"id" text PRIMARY KEY NOT NULL,
	"run_id" text NOT NULL,
	"stage" text NOT NULL,
	"iteration" integer,
	"checkpoint_id" text NOT NULL,
	"split" text NOT NULL,
	"k" integer NOT NULL,
	"task_count" integer NOT NULL,
	"pass1_mean" real NOT NULL,
	"pass1_sem" real NOT NULL,
	"pass_k" real NOT NULL,
	"per_task" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "iterations" (
	"run_id" text NOT NULL,
	"stage" text NOT NULL,
	"idx" integer NOT NULL,
	"status" text DEFAULT 'rolling_out' NOT NULL,
	"policy_version" text NOT NULL,
	"curriculum_snapshot_id" text,
	"output_checkpoint_id" text,
	"metrics" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "iterations_pkey" PRIMARY KEY("run_id","stage","idx"),
	CONSTRAINT "iterations_status_check" CHECK ("iterations"."status" in ('rolling_out', 'training', 'completed', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "promotions" (
	"id" text PRIMARY KEY NOT NULL,
	"run_id" text NOT NULL,
	"from_stage" text NOT NULL,
	"to_stage" text NOT NULL,
	"checkpoint_id" text NOT NULL,
	"actor" text NOT NULL,
	"reason" text NOT NULL,
	"forced" boolean DEFAULT false NOT NULL,
	"eval_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "promotions_run_from_stage_key" UNIQUE("run_id","from_stage")
);
--> statement-breakpoint
CREATE TABLE "reward_results" (
	"episode_id" text PRIMARY KEY NOT NULL,
	"resolved" boolean NOT NULL,
	"patch_applied" boolean NOT NULL,
	"tests" jsonb NOT NULL,
	"harness_exit_code" integer,
	"duration_ms" integer NOT NULL,
	"output_tail" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "runs" (
	"id" text PRIMARY KEY NOT NULL,
	"workflow_id" text NOT NULL,
	"name" text NOT NULL,
	"config" jsonb NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"current_stage" text,
	"current_checkpoint_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "runs_workflow_id_key" UNIQUE("workflow_id"),
	CONSTRAINT "runs_status_check" CHECK ("runs"."status" in ('pending', 'running', 'paused', 'awaiting_promotion', 'completed', 'failed', 'aborted'))
);
--> statement-breakpoint
CREATE TABLE "sandbox_leases" (
	"id" text PRIMARY KEY NOT NULL,
	"run_id" text,
	"episode_id" text,
	"host" text NOT NULL,
	"image" text NOT NULL,
	"container_id" text,
	"status" text DEFAULT 'active' NOT NULL,
	"acquired_at" timestamp with time zone DEFAULT now() NOT NULL,
	"renewed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"released_at" timestamp with time zone,
	CONSTRAINT "sandbox_leases_status_check" CHECK ("sandbox_leases"."status" in ('active', 'released', 'expired'))
);
--> statement-breakpoint
CREATE TABLE "stages" (
	"run_id" text NOT NULL,
	"name" text NOT NULL,
	"idx" integer NOT NULL,
	"kind" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"base_checkpoint_id" text,
	"final_checkpoint_id" text,
	"curriculum_snapshot_id" text,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "stages_pkey" PRIMARY KEY("run_id","name"),
	CONSTRAINT "stages_run_idx_key" UNIQUE("run_id","idx"),
	CONSTRAINT "stages_kind_check" CHECK ("stages"."kind" in ('rft', 'rl', 'eval')),
	CONSTRAINT "stages_status_check" CHECK ("stages"."status" in ('pending', 'running', 'completed', 'failed', 'aborted'))
);
--> statement-breakpoint
CREATE TABLE "task_quarantine" (
	"suite" text NOT NULL,
	"task_id" text NOT NULL,
	"code" text NOT NULL,
	"message" text NOT NULL,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "task_quarantine_pkey" PRIMARY KEY("suite","task_id")
);
--> statement-breakpoint
CREATE TABLE "task_stat_events" (
	"episode_id" text PRIMARY KEY NOT NULL,
	"run_id" text NOT NULL,
	"stage" text NOT NULL,
	"task_id" text NOT NULL,
	"solved" boolean NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "task_stats" (
	"run_id" text NOT NULL,
	"stage" text NOT NULL,
	"task_id" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"solves" integer DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "task_stats_pkey" PRIMARY KEY("run_id","stage","task_id"),
	CONSTRAINT "task_stats_solves_check" CHECK ("task_stats"."solves" >= 0 and "task_stats"."solves" <= "task_stats"."attempts")
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"id" text PRIMARY KEY NOT NULL,
	"suite" text NOT NULL,
	"split" text DEFAULT 'train' NOT NULL,
	"repo" text NOT NULL,
	"base_commit" text NOT NULL,
	"problem_statement" text NOT NULL,
	"gold_patch" text NOT NULL,
	"test_patch" text NOT NULL,
	"fail_to_pass" jsonb NOT NULL,
	"pass_to_pass" jsonb NOT NULL,
	"image" text,
	"content_hash" text NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "trainer_steps" (
	"run_id" text NOT NULL,
	"stage" text NOT NULL,
	"iteration" integer NOT NULL,
	"step" integer NOT NULL,
	"kind" text NOT NULL,
	"status" text DEFAULT 'started' NOT NULL,
	"batch_digest" text NOT NULL,
	"input_checkpoint_id" text NOT NULL,
	"output_checkpoint_id" text,
	"metrics" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"applied_at" timestamp with time zone,
	CONSTRAINT "trainer_steps_pkey" PRIMARY KEY("run_id","stage","iteration","step"),
	CONSTRAINT "trainer_steps_kind_check" CHECK ("trainer_steps"."kind" in ('sft', 'dapo')),
	CONSTRAINT "trainer_steps_status_check" CHECK ("trainer_steps"."status" in ('started', 'applied')),
	CONSTRAINT "trainer_steps_applied_check" CHECK ("trainer_steps"."status" <> 'applied' or "trainer_steps"."output_checkpoint_id" is not null)
);
--> statement-breakpoint
CREATE TABLE "turns" (
	"episode_id" text NOT NULL,
	"idx" integer NOT NULL,
	"role" text NOT NULL,
	"text" text NOT NULL,
	"token_ids" jsonb,
	"logprobs" jsonb,
	"tokens_ref" text,
	"prompt_tokens" integer,
	"completion_tokens" integer,
	"format_error" boolean DEFAULT false NOT NULL,
	"tool" text,
	"command" text,
	"exit_code" integer,
	"output_truncated" boolean DEFAULT false NOT NULL,
	"duration_ms" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "turns_pkey" PRIMARY KEY("episode_id","idx"),
	CONSTRAINT "turns_role_check" CHECK ("turns"."role" in ('system', 'user', 'assistant', 'tool')),
	CONSTRAINT "turns_idx_check" CHECK ("turns"."idx" >= 0)
);
--> statement-breakpoint
ALTER TABLE "checkpoints" ADD CONSTRAINT "checkpoints_parent_id_checkpoints_id_fk" FOREIGN KEY ("parent_id") REFERENCES "public"."checkpoints"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "checkpoints" ADD CONSTRAINT "checkpoints_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "curriculum_snapshots" ADD CONSTRAINT "curriculum_snapshots_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "episodes" ADD CONSTRAINT "episodes_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "episodes" ADD CONSTRAINT "episodes_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "evals" ADD CONSTRAINT "evals_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "iterations" ADD CONSTRAINT "iterations_stage_fkey" FOREIGN KEY ("run_id","stage") REFERENCES "public"."stages"("run_id","name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "promotions" ADD CONSTRAINT "promotions_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reward_results" ADD CONSTRAINT "reward_results_episode_id_episodes_id_fk" FOREIGN KEY ("episode_id") REFERENCES "public"."episodes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sandbox_leases" ADD CONSTRAINT "sandbox_leases_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stages" ADD CONSTRAINT "stages_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task_stat_events" ADD CONSTRAINT "task_stat_events_episode_id_episodes_id_fk" FOREIGN KEY ("episode_id") REFERENCES "public"."episodes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task_stats" ADD CONSTRAINT "task_stats_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task_stats" ADD CONSTRAINT "task_stats_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "trainer_steps" ADD CONSTRAINT "trainer_steps_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "turns" ADD CONSTRAINT "turns_episode_id_episodes_id_fk" FOREIGN KEY ("episode_id") REFERENCES "public"."episodes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "checkpoints_parent_idx" ON "checkpoints" USING btree ("parent_id");--> statement-breakpoint
CREATE INDEX "checkpoints_run_stage_iteration_idx" ON "checkpoints" USING btree ("run_id","stage","iteration");--> statement-breakpoint
CREATE INDEX "episodes_task_idx" ON "episodes" USING btree ("task_id");--> statement-breakpoint
CREATE INDEX "episodes_run_status_idx" ON "episodes" USING btree ("run_id","status");--> statement-breakpoint
CREATE INDEX "evals_run_stage_idx" ON "evals" USING btree ("run_id","stage");--> statement-breakpoint
CREATE INDEX "evals_checkpoint_idx" ON "evals" USING btree ("checkpoint_id");--> statement-breakpoint
CREATE INDEX "runs_status_idx" ON "runs" USING btree ("status");--> statement-breakpoint
CREATE UNIQUE INDEX "sandbox_leases_active_episode_idx" ON "sandbox_leases" USING btree ("episode_id") WHERE "sandbox_leases"."status" = 'active';--> statement-breakpoint
CREATE INDEX "sandbox_leases_host_status_idx" ON "sandbox_leases" USING btree ("host","status");--> statement-breakpoint
CREATE INDEX "sandbox_leases_expires_idx" ON "sandbox_leases" USING btree ("expires_at") WHERE "sandbox_leases"."status" = 'active';--> statement-breakpoint
CREATE INDEX "tasks_suite_split_idx" ON "tasks" USING btree ("suite","split");