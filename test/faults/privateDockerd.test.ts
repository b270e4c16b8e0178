/**
 * The private dockerd the chaos soak and the dockerd-restart test kill must not touch the host's
 * network: a daemon with --bridge=none in the host's namespace deletes the shared daemon's docker0
 * on startup, and every reward container then fails with "could not find bridge docker0". Start,
 * SIGKILL, restart and stop keep docker0's ifindex, and stop leaves nothing mounted under its dir.
 * A shim left for a container the daemon never recorded (dockerd killed mid-create) is found by the
 * chaos soak's leak check and cleaned.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
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

  it('finds and cleans a shim whose container docker ps -a does not list', async () => {
    await dockerd.start();
    // A tiny image (sleep and its libraries) so that nothing large is copied into the daemon.
    const tag = 'swerl-test-sleep:1';
    const files = ['usr/bin/sleep', 'lib/x86_64-linux-gnu/libc.so.6', 'lib64/ld-linux-x86-64.so.2'].filter((f) => existsSync(`/${f}`));
    const made = spawnSync('bash', ['-o', 'pipefail', '-c', 'tar -ch -C / "${@:2}" | docker -H "$1" import - ' + tag, '_', dockerd.host, ...files], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const container = await dockerd.docker.createContainer({ Image: tag, Cmd: ['/usr/bin/sleep', '600'], HostConfig: { NetworkMode: 'none' } });
    await container.start();
    expect(dockerd.shims().map((s) => s.containerId)).toContain(container.id);
    expect(await dockerd.cleanStrayShims()).toMatchObject({ found: 0, left: 0 });

    // What a kill in the middle of a create leaves: containerd has the task, dockerd has no record.
    await dockerd.kill();
    rmSync(path.join(dir, 'data', 'containers', container.id), { recursive: true, force: true });
    await dockerd.start();
    expect((await dockerd.docker.listContainers({ all: true })).map((c) => c.Id)).not.toContain(container.id);
    expect(dockerd.shims().map((s) => s.containerId)).toContain(container.id);

    const cleaned = await dockerd.cleanStrayShims();
    expect(cleaned).toMatchObject({ found: 1, left: 0, containerIds: [container.id] });
    expect(cleaned.deleted + cleaned.killed).toBe(1);
    expect(dockerd.shims().map((s) => s.containerId)).not.toContain(container.id);
  });
});
