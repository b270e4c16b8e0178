import { describe, expect, it } from 'vitest';
import { canonicalDecoding, checkpointIdFor, decodingDifferences } from '../../activities/trainer/contract';
import { toWireDecoding } from '../../workflows/loopContext';
import { DecodingSchema } from '../../core/config';

describe('trainer contract helpers', () => {
  it('names checkpoints <run>/<stage>/i<iteration:04d>-s<step:04d> like the Python trainer', () => {
    expect(checkpointIdFor({ run: 'toy-1', stage: 'rl-stage1', iteration: 12, step: 3 })).toBe('toy-1/rl-stage1/i0012-s0003');
  });

  it('maps the config decoding to the wire form without maxTokensPerTurn', () => {
    expect(toWireDecoding(DecodingSchema.parse({}))).toEqual({ temperature: 1, top_p: 1, top_k: -1, min_p: 0, repetition_penalty: 1 });
  });

  it('reads both spellings and treats top_k 0 as disabled (= −1)', () => {
    expect(canonicalDecoding({ temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, seed: 5 })).toEqual({
      temperature: 1,
      top_p: 1,
      top_k: -1,
      min_p: 0,
      repetition_penalty: 1,
    });
  });

  it('finds the parameters a silent sampler change altered (the paper top_k/min_p incident)', () => {
    const recorded = { temperature: 1, topP: 1, topK: 40, minP: 0.05, repetitionPenalty: 1, maxTokensPerTurn: 4096, seed: 9 };
    expect(decodingDifferences(recorded, { temperature: 1, top_p: 1, top_k: -1, min_p: 0, repetition_penalty: 1 })).toEqual([
      'top_k: recorded 40, expected -1',
      'min_p: recorded 0.05, expected 0',
    ]);
    expect(decodingDifferences({ ...recorded, topK: -1, minP: 0 }, { temperature: 1 })).toEqual([]);
  });
});
