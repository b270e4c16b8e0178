/** Episode limits shared by the config schema and the episode workflow (pure: no imports). */

/** Sandbox rebuilds an episode may use before it ends as `sandbox_lost` (config sandbox.maxRebuilds). */
export const DEFAULT_MAX_REBUILDS = 3;

/**
 * How long an episode waits for its sandbox host to come back (a restarted worker picks its
 * segment up again) before it rebuilds the sandbox on another host (config timeouts.hostLossSec).
 */
export const DEFAULT_HOST_LOSS_SEC = 300;
