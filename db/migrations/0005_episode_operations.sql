CREATE TABLE "episode_operations" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"episode_id" text NOT NULL,
	"workflow_id" text NOT NULL,
	"actor" text NOT NULL,
	"reason" text NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"at_turn" integer,
	"policy_version" text,
	"result_episode_id" text,
	"grader_runs" integer DEFAULT 0 NOT NULL,
	"reward" real,
	"result" jsonb,
	"error_code" text,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "episode_operations_kind_check" CHECK ("episode_operations"."kind" in ('rescore', 'fork')),
	CONSTRAINT "episode_operations_status_check" CHECK ("episode_operations"."status" in ('running', 'completed', 'failed'))
);
--> statement-breakpoint
ALTER TABLE "episode_operations" ADD CONSTRAINT "episode_operations_episode_id_episodes_id_fk" FOREIGN KEY ("episode_id") REFERENCES "public"."episodes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "episode_operations_episode_idx" ON "episode_operations" USING btree ("episode_id");--> statement-breakpoint
CREATE INDEX "episode_operations_result_episode_idx" ON "episode_operations" USING btree ("result_episode_id");