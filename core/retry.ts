/** The run config's retry settings as a Temporal RetryPolicy (pure: used inside workflows). */
import type { RetryPolicy } from '@temporalio/common';
import type { RetryPolicyConfig } from './config';

export function toRetryPolicy(cfg: RetryPolicyConfig, nonRetryableErrorTypes: string[] = []): RetryPolicy {
  return {
    initialInterval: cfg.initialIntervalMs,
    backoffCoefficient: cfg.backoffCoefficient,
    maximumInterval: cfg.maximumIntervalMs,
    // Temporal spells "unlimited" as an absent maximumAttempts; our config spells it 0.
    ...(cfg.maximumAttempts > 0 ? { maximumAttempts: cfg.maximumAttempts } : {}),
    nonRetryableErrorTypes,
  };
}
