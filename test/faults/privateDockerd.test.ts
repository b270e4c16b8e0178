/**
 * The private dockerd the chaos soak and the dockerd-restart test kill must not touch the host's
 * network: a daemon with --bridge=none in the host's namespace deletes the shared daemon's docker0
 * on startup, and every reward container then fails with "could not find bridge docker0". Start,
 * SIGKILL, restart and stop keep docker0's ifindex, and stop leaves nothing mounted under its dir.
 */
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PrivateDockerd } from '../../cli/chaos/privateDocker';

function docker0Index(): number | undefined {
  try {
    return Number(readFileSync('/sys/class/net/docker0/ifindex', 'utf8').trim());
  } catch {
    return undefined;
  }
}

describe('PrivateDockerd', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swerl-private-dockerd-'));
  const dockerd = new PrivateDockerd(dir);

  afterAll(async () => {
    await dockerd.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps docker0 across start, SIGKILL, restart and stop, and unmounts its data root', async () => {
    const before = docker0Index();
    expect(before, 'the shared daemon has a docker0 bridge').toBeGreaterThan(0);

    const first = await dockerd.start();
    expect(await dockerd.healthy()).toBe(true);
    // it runs in a network namespace of its own: not the one this process (the host's) is in
    expect(readlinkSync(`/proc/${first}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));
    expect(docker0Index()).toBe(before);

    expect(await dockerd.kill()).toBe(first);
    expect(await dockerd.healthy()).toBe(false);
    const second = await dockerd.start();
    expect(second).not.toBe(first);
    expect(await dockerd.healthy()).toBe(true);
    expect(docker0Index()).toBe(before);

    await dockerd.stop();
    expect(dockerd.pid()).toBeUndefined();
    expect(docker0Index()).toBe(before);
    expect(dockerd.mountsUnder()).toEqual([]);
    rmSync(dir, { recursive: true, force: true }); // throws EBUSY if a mount were left
  });
});

