import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { otherLivePollers, POLLER_LIVE_SEC, processAlive } from '../../workers/hostQueueGuard';
import { defaultHostId, hostQueueOf, processHostId } from '../../workers/rollout';

describe('host ids of processes whose sandboxes die with them', () => {
  it('two demos (queue swerl-demo-<uuid>) poll two host queues, neither the machine default', () => {
    const a = processHostId('swerl-demo-1a2b3c4d');
    const b = processHostId('swerl-demo-5e6f7a8b');
    expect(hostQueueOf(a)).not.toBe(hostQueueOf(b));
    expect(a).not.toBe(defaultHostId({}));
    expect(a).not.toBe(defaultHostId({ SWERL_HOST_ID: 'vm' }));
    expect(processHostId('swerl demo/x')).toBe('swerl-demo-x');
  });
});

describe('who else polls a host queue', () => {
  const now = 1_000_000_000;
  const self = { pid: 100, hostname: 'vm' };
  const alive = new Set([100, 200]);
  const isAlive = (pid: number) => alive.has(pid);
  const at = (identity: string, ageSec: number) => ({ identity, lastAccessMs: now - ageSec * 1000 });

  it('a live process of this machine counts; this process, a gone one and an old entry do not', () => {
    const pollers = [at('100@vm', 1), at('200@vm', 30), at('300@vm', 2), at('200@vm', POLLER_LIVE_SEC + 1)];
    expect(otherLivePollers(pollers, now, self, isAlive).map((p) => p.identity)).toEqual(['200@vm']);
  });

  it('a recent poller of another machine (or an identity of another form) counts', () => {
    const pollers = [at('100@other', 10), at('custom-identity', 10), at('7@other', POLLER_LIVE_SEC + 5)];
    expect(otherLivePollers(pollers, now, self, isAlive).map((p) => p.identity)).toEqual(['100@other', 'custom-identity']);
  });

  it('processAlive: this process is, an exited child is not', () => {
    expect(processAlive(process.pid)).toBe(true);
    const child = spawnSync(process.execPath, ['-e', '0']);
    expect(child.status).toBe(0);
    expect(processAlive(child.pid!)).toBe(false);
  });
});
