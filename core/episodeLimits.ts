/** Episode limits shared by the config schema and the episode workflow (pure: no imports). */

/** Sandbox rebuilds an episode may use before it ends as `sandbox_lost` (config sandbox.maxRebuilds). */
export const DEFAULT_MAX_REBUILDS = 3;

/**
 * How long an episode waits for its sandbox host to come back (a restarted worker picks its
 * segment up again) before it rebuilds the sandbox on another host (config timeouts.hostLossSec).
 */
export const DEFAULT_HOST_LOSS_SEC = 300;

/**
 * How long the reward of one episode may keep failing for infra reasons (Docker, the reward
 * container, Postgres, a lost worker), counted from the first such failure, before the episode
 * ends unscored with SWERL_REWARD_INFRA_EXHAUSTED (config timeouts.rewardInfraSec).
 */
export const DEFAULT_REWARD_INFRA_SEC = 1800;

/**
 * Reward attempts that may end in a harness crash (Docker answering, the reward container still
 * running) before the episode ends unscored with SWERL_REWARD_UNAVAILABLE.
 */
export const REWARD_MAX_ATTEMPTS = 3;

/**
 * The share of an iteration's episodes that may end unscored (exit infra_failure or sandbox_lost)
 * before the iteration fails with SWERL_UNSCORED_FRACTION_EXCEEDED (config rollout.maxUnscoredFraction).
 */
export const DEFAULT_MAX_UNSCORED_FRACTION = 0.5;
