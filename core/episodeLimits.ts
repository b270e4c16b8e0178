/** Episode limits shared by the config schema and the episode workflow (pure: no imports). */

/** Sandbox rebuilds an episode may use before it ends as `sandbox_lost` (config sandbox.maxRebuilds). */
export const DEFAULT_MAX_REBUILDS = 3;
