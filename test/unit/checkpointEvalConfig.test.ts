import { describe, expect, it } from 'vitest';
import { checkpointEvalRunId, evalConfigFor, formatEvalOutcome } from '../../cli/trainingCommands';
import { parseRunConfig } from '../../core/config';

const withEval = parseRunConfig({
  name: 'toy',
  model: { base: 'toy-base' },
  tasks: { suite: 'tasks/toy/tasks.jsonl' },
  stages: [
    { kind: 'rl', name: 'rl-stage1', maxTurns: 16, contextTokens: 4096, iterations: 1, problemsPerIteration: 2, batchSize: 4 },
    { kind: 'eval', name: 'eval', maxTurns: 8, contextTokens: 2048, runs: 2 },
  ],
});
const rlOnly = parseRunConfig({ ...withEval, stages: [withEval.stages[0]] });

describe('evalConfigFor', () => {
  it("keeps only the config's eval stage, with --runs and --split applied", () => {
    const c = evalConfigFor(withEval, { runs: 5, split: 'holdout' });
    expect(c.stages).toEqual([{ kind: 'eval', name: 'eval', maxTurns: 8, contextTokens: 2048, runs: 5 }]);
    expect(c.tasks.evalSplit).toBe('holdout');
    expect(evalConfigFor(withEval).stages[0]).toMatchObject({ runs: 2 });
    expect(evalConfigFor(withEval).tasks.evalSplit).toBe('eval');
  });
  it("without an eval stage uses the last stage's limits and the paper's k = 10", () => {
    expect(evalConfigFor(rlOnly).stages).toEqual([{ kind: 'eval', name: 'eval', maxTurns: 16, contextTokens: 4096, runs: 10 }]);
  });
  it('refuses k = 0 as SWERL_CONFIG_INVALID', () => {
    expect(() => evalConfigFor(withEval, { runs: 0 })).toThrow(expect.objectContaining({ code: 'SWERL_CONFIG_INVALID' }));
  });
});

describe('checkpointEvalRunId', () => {
  it('is the same for the same checkpoint and eval config, different otherwise', () => {
    const c = evalConfigFor(withEval);
    const id = checkpointEvalRunId(c, 'run-1/rl-stage1/i0001-s0000');
    expect(id).toMatch(/^eval-toy-run-1_rl-stage1_i0001-s0000-[0-9a-f]{10}$/);
    expect(checkpointEvalRunId(evalConfigFor(withEval), 'run-1/rl-stage1/i0001-s0000')).toBe(id);
    expect(checkpointEvalRunId(c, 'run-1/rl-stage1/i0002-s0000')).not.toBe(id);
    expect(checkpointEvalRunId(evalConfigFor(withEval, { runs: 3 }), 'run-1/rl-stage1/i0001-s0000')).not.toBe(id);
    expect(checkpointEvalRunId(evalConfigFor(withEval, { split: 'other' }), 'run-1/rl-stage1/i0001-s0000')).not.toBe(id);
  });
});

describe('formatEvalOutcome', () => {
  it('prints Pass@1 ± SEM and Pass@k', () => {
    expect(formatEvalOutcome({ checkpointId: 'c', pass1: 0.5, sem: 0.025, passK: 0.75, k: 4, tasks: 2 }, 'eval')).toBe('c [split eval, 2 tasks]: Pass@1 50.0% ± 2.5% (k=4), Pass@4 75.0%');
  });
});
