// The workflow bundle's entry point: every workflow type a worker registers.
export { trainingRun } from './trainingRun';
export { episode } from './episode';
