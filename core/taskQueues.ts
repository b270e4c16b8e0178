/** Task queue names shared by clients, workers and workflows. */
export const TaskQueues = {
  /** Workflows and the light activities that orchestrate them (Postgres bookkeeping). */
  orchestration: 'swerl-orchestration',
  /** The Python reference trainer (trainer/). */
  trainer: 'trainer',
  /** Rollout workers poll this to hand out sandbox hosts; each host then listens on its own queue. */
  rollout: 'swerl-rollout',
} as const;

/** Deterministic workflow ids, so that a repeated `start` finds the run instead of duplicating it. */
export function trainingRunWorkflowId(runId: string): string {
  return `swerl-run-${runId}`;
}
