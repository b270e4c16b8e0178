// The workflow bundle's entry point: every workflow type a worker registers.
export { trainingRun } from './trainingRun';
export { episode } from './episode';
export { rftStage } from './rftStage';
export { rlIteration } from './rlIteration';
export { evalStage } from './evalStage';
export { checkpointEval } from './checkpointEval';
export { episodeShard } from './episodeShard';
export { updateSegment } from './updateSegment';
export { rescoreEpisode, forkEpisode } from './episodeOperations';
