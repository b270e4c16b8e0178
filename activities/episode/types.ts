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
  /** Set when the episode ended unscored instead (its code, e.g. SWERL_REWARD_UNAVAILABLE): exit infra_failure. */
  unscored?: string;
}

export interface EpisodeActivities {
  startEpisode(input: EpisodeInput & { workflowId: string }): Promise<StartedEpisode>;
  /**
   * A sandbox with every turn whose observation is persisted replayed. `replayUpTo` is the
   * workflow's view (the turn its segment started at, possibly stale) and is not used: the
   * persisted transcript decides; it stays in the input so recorded histories keep their shape.
   */
  acquireSandbox(input: { episodeId: string; replayUpTo: number }): Promise<HostRef>;
  policyTurn(input: { episodeId: string; turn: number }): Promise<PolicyStep>;
  recordInfraFailure(input: { episodeId: string; code: string }): Promise<void>;
  /** Ends the episode unscored with exit `sandbox_lost` (its sandbox died past sandbox.maxRebuilds). */
  loseEpisode(input: { episodeId: string; rebuilds: number }): Promise<{ infraFailures: number }>;
  /**
   * `bounded` (histories from swerl-episode-reward-bounds on): a harness crash is counted on the
   * row and the REWARD_MAX_ATTEMPTS-th returns `unscored`; infra failures are thrown for the
   * workflow to retry within timeouts.rewardInfraSec. Without it, the old bound on activity attempts.
   */
  scoreEpisode(input: { episodeId: string; turns: number; exitReason: EpisodeExit; bounded?: boolean }): Promise<EpisodeScoreSummary>;
  /** Ends the episode unscored (exit infra_failure) with `code`: its reward's infra failures outlasted timeouts.rewardInfraSec. */
  abandonReward(input: { episodeId: string; code: string }): Promise<EpisodeScoreSummary>;
}

export interface SegmentResult {
  /** The first agent turn without an observation after this segment. */
  nextTurn: number;
  /** Format errors among this segment's turns (persisted ones included). */
  formatErrors: number;
  /** Set when the episode ended inside the segment; absent when the segment's turn budget ran out. */
  exit?: 'submitted' | 'context_overflow';
  /** Set when the segment rebuilt the sandbox: the container to use from now on. */
  rebuiltContainerId?: string;
}

export interface HostActivities {
  /**
   * Up to `maxTurns` turns (policy call + command) on the sandbox host, each committed to Postgres
   * as it completes: a retry resumes at the first turn without an observation, reusing a persisted
   * action and never re-running a command (the sandbox records each command's turn before it runs).
   */
  runTurns(input: { episodeId: string; fromTurn: number; containerId: string; maxTurns: number }): Promise<SegmentResult>;
  execTool(input: { episodeId: string; turn: number; containerId: string }): Promise<ToolObservation>;
  captureDiff(input: { episodeId: string; containerId: string }): Promise<void>;
  releaseSandbox(input: { episodeId: string; containerId: string }): Promise<void>;
}
