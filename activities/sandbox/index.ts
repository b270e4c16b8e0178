/** The sandbox capability: containers (sandbox.ts), leases and pool (leases.ts), orphan reaping (reaper.ts). */
export { createSandbox, attachSandbox } from './sandbox';
export { LeaseManager, type LeaseManagerOptions, type AcquireSpec, type AcquiredLease } from './leases';
export { reapOrphans, runReaperEvery, type ReapedContainer, type ReapReason } from './reaper';
export { Labels, type Sandbox, type SandboxLimits, type SandboxSpec, type ExecResult, type ExecOptions } from './types';
