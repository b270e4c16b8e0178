CREATE TABLE "iteration_slots" (
	"run_id" text NOT NULL,
	"stage" text NOT NULL,
	"iteration" integer NOT NULL,
	"slot" integer NOT NULL,
	"group_idx" integer NOT NULL,
	"task_id" text NOT NULL,
	"sample_idx" integer NOT NULL,
	"episode_id" text NOT NULL,
	"outcome" jsonb,
	CONSTRAINT "iteration_slots_pkey" PRIMARY KEY("run_id","stage","iteration","slot"),
	CONSTRAINT "iteration_slots_episode_key" UNIQUE("episode_id")
);
--> statement-breakpoint
CREATE TABLE "update_steps" (
	"run_id" text NOT NULL,
	"stage" text NOT NULL,
	"iteration" integer NOT NULL,
	"step" integer NOT NULL,
	"episode_ids" jsonb NOT NULL,
	"advantages" jsonb NOT NULL,
	CONSTRAINT "update_steps_pkey" PRIMARY KEY("run_id","stage","iteration","step")
);
--> statement-breakpoint
ALTER TABLE "iteration_slots" ADD CONSTRAINT "iteration_slots_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "update_steps" ADD CONSTRAINT "update_steps_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;