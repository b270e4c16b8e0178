/**
 * The messages a training run answers. Declared once and imported by the workflow and by clients,
 * so their names and payload types cannot drift apart.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';

export type RunPhase = 'starting' | 'running' | 'paused' | 'at-boundary' | 'aborting' | 'aborted' | 'completed' | 'failed';

export interface StageProgress {
  name: string;
  kind: 'rft' | 'rl' | 'eval';
  state: 'pending' | 'running' | 'done';
  iterationsDone: number;
  iterationsPlanned: number;
}

export interface RunStatus {
  runId: string;
  name: string;
  phase: RunPhase;
  /** Index into `stages` of the stage being run (or the next one at a boundary). */
  stageIndex: number;
  stages: StageProgress[];
  pausedBy?: { who: string; reason: string };
  abortReason?: string;
  /** Times this workflow run continued as new; counters survive it. */
  continuedAsNew: number;
  counters: { episodes: number; infraFailures: number; updateSteps: number };
  startedAt: string;
  updatedAt: string;
}

export interface OperatorAction {
  who: string;
  reason: string;
}

export const statusQuery = defineQuery<RunStatus>('status');
export const pauseSignal = defineSignal<[OperatorAction]>('pause');
export const resumeSignal = defineSignal<[OperatorAction]>('resume');
export const abortSignal = defineSignal<[OperatorAction]>('abort');
