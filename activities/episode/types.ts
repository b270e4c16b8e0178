/**
 * The episode's activity contract, imported by the workflow by type only. Inputs and outputs are
 * ids and small summaries: the turns themselves live in Postgres.
 */
import type { EpisodeExit, EpisodeInput } from '../../workflows/episode';

export type SandboxSettings = EpisodeInput['sandbox'];

/** Stored once on the episode row (episodes.spec) and read by every activity. */
export type EpisodeSpec = Pick<EpisodeInput, 'policy' | 'limits' | 'sandbox' | 'timeouts'>;

export interface StartedEpisode {
  /** The first agent turn without a persisted observation (0 for a new episode). */
  nextTurn: number;
  formatErrors: number;
}

export interface HostRef {
  /** The rollout worker's own task queue: later sandbox activities must run there. */
  hostQueue: string;
  containerId: string;
}

export interface PolicyStep {
  kind: 'action' | 'context_overflow';
  formatError: boolean;
  tool?: string;
}

export interface ToolObservation {
  submitted: boolean;
  /** Set only when a retry rebuilt the sandbox: the container to use from now on. */
  rebuiltContainerId?: string;
  exitCode: number | null;
  truncated: boolean;
}

export interface EpisodeScoreSummary {
  reward: number;
  lengthPenalty: number;
  rewardFinal: number;
  reason: string;
  infraFailures: number;
}

export interface EpisodeActivities {
  startEpisode(input: EpisodeInput & { workflowId: string }): Promise<StartedEpisode>;
  acquireSandbox(input: { episodeId: string; replayUpTo: number }): Promise<HostRef>;
  policyTurn(input: { episodeId: string; turn: number }): Promise<PolicyStep>;
  recordInfraFailure(input: { episodeId: string; code: string }): Promise<void>;
  scoreEpisode(input: { episodeId: string; turns: number; exitReason: EpisodeExit }): Promise<EpisodeScoreSummary>;
}

export interface HostActivities {
  execTool(input: { episodeId: string; turn: number; containerId: string }): Promise<ToolObservation>;
  captureDiff(input: { episodeId: string; containerId: string }): Promise<void>;
  releaseSandbox(input: { episodeId: string; containerId: string }): Promise<void>;
}
