import { describe, expect, it } from 'vitest';
import { parseRunConfig } from '../../core/config';
import { buildEpisodeInput } from '../../workflows/episodeInput';

const raw = {
  name: 'hf',
  model: { base: 'hf-base' },
  tasks: { suite: 'tasks/toy/tasks.jsonl' },
  stages: [{ kind: 'rl', name: 'rl-stage1', maxTurns: 16, contextTokens: 4096, iterations: 1, problemsPerIteration: 2, batchSize: 4 }],
};
const slot = { runId: 'run-1', iteration: 3, taskId: 't-1', sampleIdx: 0 };
const served = { url: 'http://127.0.0.1:8000', policyVersion: 'run-1/rl-stage1/i0002-s0001' };

describe('the model name an episode asks the policy server for', () => {
  it('is the configured alias by default (the same request as before the option existed)', () => {
    const config = parseRunConfig(raw);
    expect(config.policy).not.toHaveProperty('pinVersion');
    const input = buildEpisodeInput(config, config.stages[0]!, slot, served);
    expect(input.policy.model).toBe('swerl-policy');
    expect(input.policy.policyVersion).toBe(served.policyVersion);
  });
  it('is the checkpoint id of the policy version with policy.pinVersion, so a server serving another version refuses it', () => {
    const config = parseRunConfig({ ...raw, policy: { pinVersion: true, model: 'ignored-alias' } });
    const input = buildEpisodeInput(config, config.stages[0]!, slot, served);
    expect(input.policy.model).toBe('run-1/rl-stage1/i0002-s0001');
  });
});
