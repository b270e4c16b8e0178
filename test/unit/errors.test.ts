import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { ConfigError, ErrorCodes, SandboxError, SwerlError, errorCodeOf, toTemporalFailure } from '../../core/errors';

describe('error codes', () => {
  it('every code is a unique SWERL_ string', () => {
    const codes = Object.values(ErrorCodes);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(c).toMatch(/^SWERL_[A-Z_]+$/);
  });

  it('maps bad input to a non-retryable failure and infra to a retryable one', () => {
    const bad = new ConfigError(ErrorCodes.CONFIG_INVALID, 'stages[0].lr: too small', { path: 'stages[0].lr' }).toApplicationFailure();
    expect(bad).toBeInstanceOf(ApplicationFailure);
    expect(bad.type).toBe('SWERL_CONFIG_INVALID');
    expect(bad.nonRetryable).toBe(true);
    expect(bad.details).toEqual([{ path: 'stages[0].lr' }]);
    const infra = new SandboxError(ErrorCodes.SANDBOX_GONE, 'container abc vanished').toApplicationFailure();
    expect(infra.nonRetryable).toBe(false);
    expect(infra.message).toBe('SWERL_SANDBOX_GONE: container abc vanished');
  });

  it('finds the code through Temporal failure wrappers', () => {
    const failure = toTemporalFailure(new SwerlError(ErrorCodes.TASK_GOLD_FAILS, 'x'));
    const wrapped = { message: 'Activity task failed', cause: failure };
    expect(errorCodeOf(wrapped)).toBe('SWERL_TASK_GOLD_FAILS');
    expect(errorCodeOf(new Error('plain'))).toBeUndefined();
    const plain = new Error('not ours');
    expect(toTemporalFailure(plain)).toBe(plain);
  });
});
