import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors';
import { baseCheckpointId, parseBaseArch, PRETRAIN, pretrainArgs, resolveBaseCheckpoint, trainerPython } from '../../cli/learnPolicy';
import { TRAINER_HF_PYTHON, TRAINER_PYTHON } from '../../cli/pythonProcess';

const flag = (args: string[], name: string): string | undefined => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};

describe('the demo base architecture (--arch)', () => {
  it('defaults to native and accepts only the known architectures', () => {
    expect(parseBaseArch(undefined)).toBe('native');
    expect(parseBaseArch('qwen2')).toBe('qwen2');
    expect(parseBaseArch('llama')).toBe('llama');
    // The config's model.arch is the default; --arch overrides it.
    expect(parseBaseArch(undefined, 'qwen2')).toBe('qwen2');
    expect(parseBaseArch('native', 'qwen2')).toBe('native');
    expect(() => parseBaseArch('gpt2')).toThrow(ConfigError);
    expect(() => parseBaseArch('gpt2')).toThrow(/--arch must be one of native, qwen2, llama, got "gpt2"/);
  });

  it('keeps the native checkpoint id and pre-training arguments, and names the architecture otherwise', () => {
    const sha = 'a6b4070d684e0000';
    expect(baseCheckpointId('learn-base', sha, 'native')).toBe('learn-base-a6b4070d');
    expect(baseCheckpointId('learn-base', sha, 'qwen2')).toBe('learn-base-qwen2-a6b4070d');
    const native = pretrainArgs('/c.jsonl', 'learn-base-a6b4070d', '/p.jsonl', 'native');
    expect(native).not.toContain('--arch');
    const qwen = pretrainArgs('/c.jsonl', 'learn-base-qwen2-a6b4070d', '/p.jsonl', 'qwen2');
    expect(flag(qwen, '--arch')).toBe('qwen2');
    // Everything else is the same pre-training: same preset (size), steps, learning rate, probes.
    expect(qwen.filter((x) => x !== '--arch' && x !== 'qwen2' && x !== 'learn-base-qwen2-a6b4070d')).toEqual(native.filter((x) => x !== 'learn-base-a6b4070d'));
    expect(flag(qwen, '--preset')).toBe(PRETRAIN.preset);
    expect(flag(qwen, '--steps')).toBe(String(PRETRAIN.steps));
  });

  it('runs a transformers base with the HF venv, and says how to install it when it is missing', () => {
    expect(trainerPython('native', () => false)).toBe(TRAINER_PYTHON);
    expect(trainerPython('qwen2', () => true)).toBe(TRAINER_HF_PYTHON);
    const seen: string[] = [];
    expect(() =>
      trainerPython('llama', (f) => {
        seen.push(f);
        return false;
      }),
    ).toThrow(/--arch llama .*trainer\/\.venv-hf\/bin\/python, which is missing: run `bash trainer\/install\.sh --hf` first/);
    expect(seen).toEqual([TRAINER_HF_PYTHON]);
  });

  it('resolves --base: a checkpoint under the checkpoints dir, of the --arch its model_type names, with that venv present', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'swerl-learn-policy-'));
    try {
      const write = (id: string, config: unknown) => {
        mkdirSync(path.join(root, id));
        writeFileSync(path.join(root, id, 'config.json'), JSON.stringify(config));
      };
      write('rft-qwen2', { model_type: 'qwen2', hidden_size: 64 });
      write('rft-mistral', { model_type: 'mistral' });
      write('rft-native', { model: { architecture: 'swerl-causal-lm-v1' } });
      mkdirSync(path.join(root, 'no-config'));
      const venvs: string[] = [];
      const resolve = (id: string, arch: 'native' | 'qwen2' | 'llama', venvPresent = true) =>
        resolveBaseCheckpoint(id, arch, {
          checkpointsDir: root,
          venvExists: (f) => {
            venvs.push(f);
            return venvPresent;
          },
        });

      expect(resolve('rft-qwen2', 'qwen2')).toEqual({ id: 'rft-qwen2', dir: path.join(root, 'rft-qwen2'), python: TRAINER_HF_PYTHON });
      expect(resolve('rft-native', 'native').python).toBe(TRAINER_PYTHON);
      expect(resolve('rft-native', 'llama').python).toBe(TRAINER_HF_PYTHON); // the HF venv loads native checkpoints too
      expect(resolve('no-config', 'native').python).toBe(TRAINER_PYTHON); // left to the policy server
      expect(venvs).toEqual([TRAINER_HF_PYTHON, TRAINER_HF_PYTHON]); // asked for the HF venv only

      expect(() => resolve('rft-qwen2', 'native')).toThrow(ConfigError);
      expect(() => resolve('rft-qwen2', 'native')).toThrow(/--base rft-qwen2 is a transformers checkpoint \(model_type qwen2\), not --arch native: add --arch qwen2 /);
      expect(() => resolve('rft-qwen2', 'llama')).toThrow(/model_type qwen2\), not --arch llama: add --arch qwen2 /);
      expect(() => resolve('rft-mistral', 'qwen2')).toThrow(/model_type mistral\), not --arch qwen2: --arch supports qwen2 and llama only/);
      expect(() => resolve('missing', 'native')).toThrow(/--base missing: no such checkpoint in /);
      expect(() => resolve('../etc', 'native')).toThrow(/--base \.\.\/etc: no such checkpoint/);
      expect(() => resolve('rft-qwen2', 'qwen2', false)).toThrow(/--arch qwen2 .*which is missing: run `bash trainer\/install\.sh --hf` first/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
