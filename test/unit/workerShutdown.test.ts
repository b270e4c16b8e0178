import { describe, expect, it } from 'vitest';
import { shutdownForceSecFrom } from '../../cli/runCommands';
import { errorCodeOf } from '../../core/errors';

describe('SWERL_WORKER_SHUTDOWN_FORCE_SEC', () => {
  it('defaults to 30 s and takes a positive number of seconds', () => {
    expect(shutdownForceSecFrom({})).toBe(30);
    expect(shutdownForceSecFrom({ SWERL_WORKER_SHUTDOWN_FORCE_SEC: '' })).toBe(30);
    expect(shutdownForceSecFrom({ SWERL_WORKER_SHUTDOWN_FORCE_SEC: '7.5' })).toBe(7.5);
  });

  it.each(['0', '-3', 'soon'])('refuses %s as SWERL_CONFIG_INVALID', (raw) => {
    let err: unknown;
    try {
      shutdownForceSecFrom({ SWERL_WORKER_SHUTDOWN_FORCE_SEC: raw });
    } catch (e) {
      err = e;
    }
    expect(errorCodeOf(err)).toBe('SWERL_CONFIG_INVALID');
  });
});
