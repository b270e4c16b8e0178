-- Turns are append-only (DESIGN.md): on resume the policy must never re-generate a persisted turn,
-- so no code path may rewrite one. Deletes stay allowed so a run can be removed with its episodes.
CREATE FUNCTION "swerl_turns_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'turns are append-only: turn % of episode % cannot be updated', OLD."idx", OLD."episode_id"
		USING ERRCODE = 'restrict_violation';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "turns_append_only" BEFORE UPDATE ON "turns"
	FOR EACH ROW EXECUTE FUNCTION "swerl_turns_append_only"();
