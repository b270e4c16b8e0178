/**
 * `swerl start --wait` waits through transient Temporal errors (the real server under load answered
 * the CLI's long poll with UNAVAILABLE while the run went on: the compose smoke run, 2026-11-30),
 * gives up after a bounded number in a row with SWERL_TEMPORAL_UNAVAILABLE, and passes any other
 * error (a failed run) through at once.
 */
import { ServiceError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { isTransientTemporalError, waitForRun } from '../../cli/runs';

const grpcError = (code: number, details: string): Error => Object.assign(new Error(`${code} ${details}`), { code, details });
const unavailable = () => new ServiceError('Failed to get Workflow execution history', { cause: grpcError(14, 'Failed to lock shard') });

describe('waitForRun', () => {
  it('classifies UNAVAILABLE / DEADLINE_EXCEEDED as transient, NOT_FOUND and plain errors not', () => {
    expect(isTransientTemporalError(unavailable())).toBe(true);
    expect(isTransientTemporalError(new ServiceError('x', { cause: grpcError(4, 'deadline') }))).toBe(true);
    expect(isTransientTemporalError(new ServiceError('x', { cause: grpcError(5, 'not found') }))).toBe(false);
    expect(isTransientTemporalError(new Error('workflow failed'))).toBe(false);
  });

  it('waits again after transient errors and returns the result', async () => {
    let calls = 0;
    const logged: string[] = [];
    const result = await waitForRun(
      'r1',
      async () => {
        calls += 1;
        if (calls <= 2) throw unavailable();
        return 'done';
      },
      { pauseMs: 1, log: (l) => logged.push(l) },
    );
    expect(result).toBe('done');
    expect(calls).toBe(3);
    expect(logged).toHaveLength(2);
    expect(logged[0]).toMatch(/waiting for run r1: .*Failed to lock shard.*\(1\/60\)/);
  });

  it('gives up after the bound with a coded error naming the run', async () => {
    let calls = 0;
    const failing = waitForRun(
      'r2',
      async () => {
        calls += 1;
        throw unavailable();
      },
      { attempts: 3, pauseMs: 1 },
    );
    await expect(failing).rejects.toMatchObject({ code: 'SWERL_TEMPORAL_UNAVAILABLE', message: expect.stringMatching(/run "r2" after 3 transient/) });
    expect(calls).toBe(3);
  });

  it('passes a non-transient error through at once', async () => {
    let calls = 0;
    const failing = waitForRun('r3', async () => {
      calls += 1;
      throw new Error('workflow failed');
    });
    await expect(failing).rejects.toThrow('workflow failed');
    expect(calls).toBe(1);
  });
});
