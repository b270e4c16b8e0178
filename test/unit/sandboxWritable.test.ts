import { describe, expect, it } from 'vitest';
import { diskMiBOf, snapshotPaths, writableMounts, type ImageFacts } from '../../activities/sandbox/writable';
import type { SandboxLimits } from '../../activities/sandbox';

const limits: SandboxLimits = { cpus: 0.5, memoryMiB: 2048, pidsLimit: 256, outputLimitBytes: 65536, commandTimeoutSec: 120, user: '1000:1000' };
const base: ImageFacts = { id: 'sha256:x', repoDirs: ['/repo'], homes: ['/home'] };
const MiB = 1024 * 1024;

describe('the writable tmpfs mounts of a sandbox', () => {
  it('splits diskMiB (default memoryMiB / 2) among the mounts so that their sum never exceeds it', () => {
    expect(diskMiBOf(limits)).toBe(1024);
    expect(diskMiBOf({ ...limits, diskMiB: 300 })).toBe(300);
    const mounts = writableMounts({ ...base, venv: '/opt/swerl/venv' }, new Map(), limits);
    expect(Object.fromEntries(mounts.map((m) => [m.path, m.sizeMiB]))).toEqual({
      '/repo': 512, '/tmp': 192, '/home': 128, '/opt/swerl/venv': 64, '/var/tmp': 32, '/run/swerl': 16, '/opt/swerl-grader': 16, '/run/swerl-diff': 64,
    });
    expect(mounts.reduce((n, m) => n + m.sizeMiB, 0)).toBe(1024);
  });

  it("sizes a mount over the image's files as their footprint (plus slack) and its share", () => {
    const [repo] = writableMounts(base, new Map([['/repo', 100 * MiB]]), limits);
    expect(repo).toMatchObject({ path: '/repo', footprint: 100 * MiB, sizeMiB: 512 + 110 + 4 });
    expect(repo!.options).toBe('rw,nosuid,nodev,exec,mode=755,uid=1000,gid=1000,size=626m');
  });

  it("gives a task layout's repository a writable mount too, and covers a venv inside the repository by the repository's", () => {
    const paths = writableMounts({ ...base, repoDirs: ['/repo', '/testbed'], venv: '/testbed/.venv' }, new Map(), limits).map((m) => [m.path, m.sizeMiB]);
    expect(paths).toContainEqual(['/repo', 256]);
    expect(paths).toContainEqual(['/testbed', 256]);
    expect(paths.map(([p]) => p)).not.toContain('/testbed/.venv');
  });

  it('keeps scratch and the harness mounts out of a snapshot; the diff mount belongs to the sandbox user', () => {
    const mounts = writableMounts(base, new Map(), limits);
    const byPath = new Map(mounts.map((m) => [m.path, m.options]));
    expect(byPath.get('/tmp')).toBe('rw,nosuid,nodev,exec,mode=1777,size=192m');
    expect(byPath.get('/run/swerl')).toBe('rw,nosuid,nodev,noexec,mode=700,size=16m');
    expect(byPath.get('/run/swerl-diff')).toBe('rw,nosuid,nodev,noexec,mode=700,uid=1000,gid=1000,size=64m');
    expect(snapshotPaths(Object.fromEntries(byPath))).toEqual(['/home', '/repo']);
  });
});
