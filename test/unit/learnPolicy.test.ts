import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors';
import { baseCheckpointId, parseBaseArch, PRETRAIN, pretrainArgs, requireVenvFor, trainerPython } from '../../cli/learnPolicy';
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

  it('refuses a transformers --base checkpoint on the native venv, naming --arch', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'swerl-learn-policy-'));
    try {
      const hfDir = path.join(root, 'rft-qwen2');
      const nativeDir = path.join(root, 'rft-native');
      mkdirSync(hfDir);
      mkdirSync(nativeDir);
      writeFileSync(path.join(hfDir, 'config.json'), JSON.stringify({ model_type: 'qwen2', hidden_size: 64 }));
      writeFileSync(path.join(nativeDir, 'config.json'), JSON.stringify({ model: { architecture: 'swerl-causal-lm-v1' } }));
      expect(() => requireVenvFor(hfDir, 'native')).toThrow(/--base rft-qwen2 is a transformers checkpoint \(model_type qwen2\): add --arch qwen2/);
      expect(() => requireVenvFor(hfDir, 'qwen2')).not.toThrow();
      expect(() => requireVenvFor(nativeDir, 'native')).not.toThrow();
      expect(() => requireVenvFor(nativeDir, 'llama')).not.toThrow(); // the HF venv loads native checkpoints too
      expect(() => requireVenvFor(path.join(root, 'missing'), 'native')).not.toThrow();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
