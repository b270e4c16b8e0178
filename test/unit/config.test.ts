import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRunConfig, PRESETS } from '../../config/load';
import { parseRunConfig, type ConfigViolation } from '../../core/config';
import { ConfigError, errorCodeOf } from '../../core/errors';

function violationsOf(fn: () => unknown): ConfigViolation[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect(errorCodeOf(err)).toBe('SWERL_CONFIG_INVALID');
    return (err as ConfigError).details.violations as ConfigViolation[];
  }
  throw new Error('expected a ConfigError');
}

const minimal = { name: 'x', model: { base: 'b' }, tasks: { suite: 's.jsonl' }, stages: [{ kind: 'eval', name: 'e', maxTurns: 5, contextTokens: 100 }] };

describe('run config', () => {
  it.each(PRESETS)('preset %s validates', (name) => {
    expect(loadRunConfig(name).stages.length).toBeGreaterThan(0);
  });

  it('paper-stage1 carries the paper values', () => {
    const c = loadRunConfig('paper-stage1');
    const [rft, rl] = c.stages;
    expect(rft).toMatchObject({ kind: 'rft', maxTurns: 40, contextTokens: 65536, rolloutsPerTask: 10, lr: 5e-6, weightDecay: 0.1, batchSize: 64 });
    expect(rl).toMatchObject({ kind: 'rl', maxTurns: 40, problemsPerIteration: 300, groupSize: 10, batchSize: 128, lr: 1e-6, clip: { low: 0.2, high: 0.3 }, gradClip: 1 });
    expect(c.policy.decoding).toMatchObject({ temperature: 1, topP: 1, topK: -1, minP: 0, repetitionPenalty: 1 });
    expect(c.sandbox).toMatchObject({ cpus: 0.5, memoryMiB: 2048 });
  });

  it('paper-stage2 carries the stage-2 values and curriculum rule', () => {
    const rl2 = loadRunConfig('paper-stage2').stages.find((s) => s.name === 'rl-stage2');
    expect(rl2).toMatchObject({ maxTurns: 80, contextTokens: 131072, problemsPerIteration: 100, batchSize: 256, clip: { low: 0.2, high: 0.26 } });
    expect(rl2?.kind === 'rl' && rl2.curriculum).toMatchObject({ rule: 'drop-easy-and-unsolved', dropNeverSolved: true, fromStages: ['rl-stage1'] });
  });

  it('takes the demo base architecture from model.arch, only a known one, and leaves it unset by default', () => {
    expect(parseRunConfig(minimal).model.arch).toBeUndefined();
    expect(parseRunConfig({ ...minimal, model: { base: 'b', arch: 'qwen2' } }).model.arch).toBe('qwen2');
    const v = violationsOf(() => parseRunConfig({ ...minimal, model: { base: 'b', arch: 'gpt2' } }));
    expect(v.map((x) => x.path)).toEqual(['model.arch']);
  });

  it('fills defaults for a minimal config', () => {
    const c = parseRunConfig(minimal);
    expect(c.seed).toBe(0);
    expect(c.retry.maximumAttempts).toBe(0);
    expect(c.stages[0]).toMatchObject({ kind: 'eval', runs: 10 });
  });

  it('reports every violation with its path', () => {
    const v = violationsOf(() =>
      parseRunConfig({
        name: 'bad name!',
        model: {},
        tasks: { suite: 's' },
        stages: [
          { kind: 'rl', name: 'a', maxTurns: 10, contextTokens: 0, iterations: 1, problemsPerIteration: 1, batchSize: 1, lengthPenalty: { freeTurns: 10 } },
          { kind: 'rl', name: 'a', maxTurns: 20, contextTokens: 1, iterations: 1, problemsPerIteration: 1, batchSize: 1, curriculum: { fromStages: ['later'] } },
          { kind: 'sft', name: 'c' },
        ],
        sandbox: { cpus: -1, bogus: true },
      }),
    );
    const paths = v.map((x) => x.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'name',
        'model.base',
        'stages[0].contextTokens',
        'stages[2].kind',
        'sandbox.cpus',
        'sandbox',
      ]),
    );
  });

  it('checks cross-field rules once the shape is valid', () => {
    const v = violationsOf(() =>
      parseRunConfig({
        ...minimal,
        stages: [
          { kind: 'rl', name: 'a', maxTurns: 10, contextTokens: 1, iterations: 1, problemsPerIteration: 1, batchSize: 1, lengthPenalty: { freeTurns: 10 } },
          { kind: 'rl', name: 'a', maxTurns: 20, contextTokens: 1, iterations: 1, problemsPerIteration: 1, batchSize: 1, curriculum: { fromStages: ['later'] } },
        ],
      }),
    );
    expect(v).toEqual([
      { path: 'stages[0].lengthPenalty.freeTurns', message: 'must be below maxTurns (10) for R_len to be defined' },
      { path: 'stages[1].name', message: 'duplicate stage name "a"' },
      { path: 'stages[1].curriculum.fromStages[0]', message: '"later" is not an earlier stage' },
    ]);
  });

  it('gives coded errors for missing and unparsable files', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swerl-config-'));
    expect(errorCodeOf(catchErr(() => loadRunConfig(path.join(dir, 'nope.yaml'))))).toBe('SWERL_CONFIG_NOT_FOUND');
    const broken = path.join(dir, 'broken.yaml');
    writeFileSync(broken, 'name: [unclosed');
    expect(errorCodeOf(catchErr(() => loadRunConfig(broken)))).toBe('SWERL_CONFIG_INVALID');
    const json = path.join(dir, 'ok.json');
    writeFileSync(json, JSON.stringify(minimal));
    expect(loadRunConfig(json).name).toBe('x');
  });
});

function catchErr(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}
