import { describe, expect, it } from 'vitest';
import { releaseDemoSandboxes, type SandboxHost } from '../../cli/demoSandboxes';

/** A rollout host whose close() takes `closeMs` (never, when undefined), and the calls it got. */
function host(closeMs: number | undefined, calls: string[]): SandboxHost {
  return {
    shutdown: () => void calls.push('shutdown'),
    close: () => {
      calls.push('close');
      return closeMs === undefined ? new Promise<void>(() => undefined) : new Promise<void>((r) => setTimeout(r, closeMs));
    },
    leases: { id: 'mgr-1', drainPool: async () => void calls.push('drainPool') },
  };
}

const docker = (ids: string[], calls: string[]) => ({
  listContainers: async (opts: { filters: unknown }) => {
    calls.push(`list ${JSON.stringify(opts.filters)}`);
    return ids.map((Id) => ({ Id }));
  },
});

describe("an interrupted demo's sandboxes", () => {
  it('says nothing when its host removed them all within the bound', async () => {
    const calls: string[] = [];
    expect(await releaseDemoSandboxes(host(5, calls), 10, { docker: docker([], calls) })).toBeUndefined();
    expect(calls).toEqual(['shutdown', 'close', 'drainPool', 'list {"label":["swerl.manager=mgr-1"]}']);
  });

  it('past the bound, names the containers left and the command that removes them (coded)', async () => {
    const calls: string[] = [];
    const message = await releaseDemoSandboxes(host(undefined, calls), 0.05, { docker: docker(['aaaaaaaaaaaa1111', 'bbbbbbbbbbbb2222'], calls) });
    expect(message).toBe(
      "SWERL_SANDBOX_RELEASE_TIMEOUT: the demo's sandboxes: their removal took longer than 0.05 s; 2 still exist (aaaaaaaaaaaa bbbbbbbbbbbb). " +
        'Remove them with: docker rm -f $(docker ps -aq --filter label=swerl.manager=mgr-1)',
    );
    expect(calls).not.toContain('drainPool');
  });

  it('on a failed removal or listing, says so and still names the command', async () => {
    const failing: SandboxHost = { ...host(0, []), close: () => Promise.reject(new Error('docker: connection refused')) };
    const hung = { listContainers: () => new Promise<never>(() => undefined) };
    expect(await releaseDemoSandboxes(failing, 10, { docker: hung, listTimeoutMs: 20 })).toBe(
      "SWERL_SANDBOX_RELEASE_TIMEOUT: the demo's sandboxes: removing them failed (docker: connection refused); they may still exist (listing them failed). " +
        'Remove them with: docker rm -f $(docker ps -aq --filter label=swerl.manager=mgr-1)',
    );
  });
});
