import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { trackingTarget } from '../../cli/track';
import { parseRunConfig } from '../../core/config';

describe("the run config's tracker (swerl track RUN)", () => {
  it('defaults its directory under the state dir and takes the flag over the config', () => {
    expect(trackingTarget({ tracking: { tracker: 'tensorboard' } }, 'r1', { stateDir: '/s' })).toEqual({ logDir: path.resolve('/s/tracking/r1'), samplesPerIteration: 2 });
    expect(trackingTarget({ tracking: { tracker: 'tensorboard', dir: '/tb', samplesPerIteration: 4 } }, 'r1', { stateDir: '/s' })).toEqual({ logDir: '/tb', samplesPerIteration: 4 });
    expect(trackingTarget({}, 'r1', { stateDir: '/s', flagDir: '/flag' }).logDir).toBe('/flag');
  });

  it('refuses a run without a tracker (none or absent) unless the flag names one, and a malformed tracking', () => {
    expect(() => trackingTarget({}, 'r1', { stateDir: '/s' })).toThrow(/SWERL_CONFIG_INVALID.*chooses no tracker/);
    expect(() => trackingTarget({ tracking: { tracker: 'none' } }, 'r1', { stateDir: '/s' })).toThrow(/SWERL_CONFIG_INVALID/);
    expect(() => trackingTarget({ tracking: { tracker: 'wandb' } }, 'r1', { stateDir: '/s' })).toThrow(/SWERL_CONFIG_INVALID/);
  });

  it('is part of the one run config schema (optional: configs without it are unchanged)', () => {
    const base = { name: 't', model: { base: 'b' }, tasks: { suite: 'toy' }, stages: [{ kind: 'eval', name: 'eval', maxTurns: 4, contextTokens: 4096, runs: 1 }] };
    expect(parseRunConfig(base, 't').tracking).toBeUndefined();
    expect(parseRunConfig({ ...base, tracking: { tracker: 'tensorboard' } }, 't').tracking).toEqual({ tracker: 'tensorboard', samplesPerIteration: 2 });
  });
});
