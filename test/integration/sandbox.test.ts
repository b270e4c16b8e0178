/**
 * The sandbox on a real Docker daemon: images are content-addressed and cached, containers get the
 * limits we ask for, and every Sandbox method does what the tool layer and the reward harness rely
 * on. A tiny git repo made here (base commit + a later "fix" commit) is the task.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandboxLimitsSchema } from '../../core/config';
import { ErrorCodes, SwerlError } from '../../core/errors';
import { attachSandbox, createSandbox, LeaseManager, Labels, reapOrphans, type Sandbox, type SandboxLimits } from '../../activities/sandbox';
import { execRaw } from '../../activities/sandbox/exec';
import { ensureBaseImage, ensureTaskImage } from '../../sandbox/images';
import { waitUntil } from '../harness/poll';

const docker = new Docker();
const RUN = `sandbox-test-${process.pid}`;
const limits: SandboxLimits = { cpus: 0.5, memoryMiB: 512, pidsLimit: 128, outputLimitBytes: 4096, commandTimeoutSec: 20, user: '1000:1000' };
const created: Sandbox[] = [];

let repoDir: string;
let baseCommit: string;
let fixCommit: string;
let baseTag: string;
let taskTag: string;
let baseFirstMs: number;
let baseSecondMs: number;

function git(...args: string[]): string {
  // Fixed dates make the commit ids, hence the task image tags, the same on every run: reruns hit the cache.
  const env = { ...process.env, GIT_AUTHOR_DATE: '2025-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2025-01-01T00:00:00Z' };
  return execFileSync('git', ['-C', repoDir, '-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'init.defaultBranch=main', ...args], { encoding: 'utf8', env }).trim();
}

async function newSandbox(image: string, episode: string, ttl = 600): Promise<Sandbox> {
  const sb = await createSandbox(docker, { image, limits, labels: { run: RUN, episode }, leaseTtlSec: ttl });
  created.push(sb);
  return sb;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err instanceof SwerlError ? err.code : `not a SwerlError: ${String(err)}`;
  }
}

beforeAll(async () => {
  let t = performance.now();
  baseTag = await ensureBaseImage();
  baseFirstMs = performance.now() - t;
  t = performance.now();
  expect(await ensureBaseImage()).toBe(baseTag);
  baseSecondMs = performance.now() - t;

  repoDir = mkdtempSync(join(tmpdir(), 'swerl-task-repo-'));
  git('init', '-q');
  writeFileSync(join(repoDir, 'calc.py'), 'def add(a, b):\n    return a - b\n');
  writeFileSync(join(repoDir, 'test_calc.py'), 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n');
  git('add', '-A');
  git('commit', '-qm', 'base');
  baseCommit = git('rev-parse', 'HEAD');
  writeFileSync(join(repoDir, 'calc.py'), 'def add(a, b):\n    return a + b\n');
  git('commit', '-qam', 'the fix the agent must not see');
  fixCommit = git('rev-parse', 'HEAD');
  taskTag = await ensureTaskImage({ instanceId: 'toy__calc-1', repoDir, baseCommit });
});

afterAll(async () => {
  await Promise.all(created.map((s) => s.destroy()));
  rmSync(repoDir, { recursive: true, force: true });
});

describe('images', () => {
  it('tags the base image by content and serves the second call from the cache', async () => {
    expect(baseTag).toMatch(/^swerl-base:[0-9a-f]{12}$/);
    console.log(`[sandbox] ensureBaseImage: first ${baseFirstMs.toFixed(0)} ms, second ${baseSecondMs.toFixed(0)} ms`);
    expect(baseSecondMs).toBeLessThan(1000);
  });

  it('builds a task image once per (base, commit, setup) and reuses it', async () => {
    expect(taskTag).toMatch(/^swerl-task:[0-9a-f]{12}$/);
    const t = performance.now();
    expect(await ensureTaskImage({ instanceId: 'toy__calc-1', repoDir, baseCommit: baseCommit.slice(0, 8) })).toBe(taskTag);
    expect(performance.now() - t).toBeLessThan(2000);
  });

  it('takes the repo from a .tar.gz as well, with the same tag for the same commit', async () => {
    const tarball = join(tmpdir(), `swerl-task-repo-${process.pid}.tar.gz`);
    execFileSync('tar', ['-czf', tarball, '-C', repoDir, '.']);
    try {
      expect(await ensureTaskImage({ instanceId: 'toy__calc-1', repoDir: tarball, baseCommit })).toBe(taskTag);
    } finally {
      rmSync(tarball, { force: true });
    }
  });

  it('runs the setup script as root at build time and keeps its by-products out of the diff', async () => {
    const setupScript = 'echo ran > /opt/swerl/setup-ran\nmkdir -p build && echo x > build/artifact.so\n';
    const withSetup = await ensureTaskImage({ instanceId: 'toy__calc-1', repoDir, baseCommit, setupScript });
    expect(withSetup).not.toBe(taskTag);
    const sb = await newSandbox(withSetup, 'ep-setup');
    expect(await sb.readFile('/opt/swerl/setup-ran')).toBe('ran\n');
    expect((await sb.exec('stat -c %U /repo/build/artifact.so')).output).toBe('agent\n');
    expect(await sb.gitDiff()).toBe('');
    await sb.destroy();
  });

  it('rejects a base commit that is not in the repo with a task error', async () => {
    expect(await codeOf(ensureTaskImage({ instanceId: 'toy__bad', repoDir, baseCommit: 'deadbeefdeadbeef' }))).toBe(ErrorCodes.TASK_INVALID);
  });
});

describe('sandbox', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await newSandbox(taskTag, 'ep-main');
  });

  it('applies the limits, the user and the labels we asked for', async () => {
    const info = await docker.getContainer(sb.containerId).inspect();
    const hc = info.HostConfig;
    expect(hc.NetworkMode).toBe('none');
    expect(hc.NanoCpus).toBe(500_000_000);
    expect(hc.Memory).toBe(512 * 1024 * 1024);
    expect(hc.PidsLimit).toBe(128);
    expect(hc.CapDrop).toEqual(['ALL']);
    expect(hc.SecurityOpt).toContain('no-new-privileges');
    expect(hc.Init).toBe(true);
    // PID 1 and the tool server are root (the agent cannot kill them); commands run as the sandbox user.
    expect(info.Config.User).toBe('0:0');
    expect(hc.CapAdd).toEqual(['SETUID', 'SETGID', 'KILL']);
    expect(info.Config.Labels).toMatchObject({ [Labels.managed]: 'true', [Labels.run]: RUN, [Labels.episode]: 'ep-main' });
    expect(Number(info.Config.Labels[Labels.leaseExpires])).toBeGreaterThan(Date.now() + 500_000);
    expect((await sb.exec('id -u')).output).toBe('1000\n');
  });

  it('interleaves stdout and stderr, reports the exit code, honours cwd and stdin', async () => {
    const r = await sb.exec('echo a; echo b >&2; echo c; exit 3');
    expect(r).toMatchObject({ exitCode: 3, output: 'a\nb\nc\n', truncated: false, timedOut: false });
    expect((await sb.exec('pwd', { cwd: '/tmp' })).output).toBe('/tmp\n');
    expect((await sb.exec('tr a-z A-Z', { stdin: 'shout\n' })).output).toBe('SHOUT\n');
    expect((await sb.exec('cat; echo done')).output).toBe('done\n');
  });

  it('has no network', async () => {
    const r = await sb.exec(`python3 -c "import socket; socket.create_connection(('1.1.1.1',53),timeout=2)"`);
    expect(r.exitCode).not.toBe(0);
    expect(r.output).toMatch(/Network is unreachable|OSError/);
  });

  it('reads and writes files as the sandbox user', async () => {
    const text = 'héllo\nwörld\n';
    await sb.writeFile('/repo/new/dir/notes.txt', text);
    expect(await sb.readFile('/repo/new/dir/notes.txt')).toBe(text);
    expect((await sb.exec('stat -c %u /repo/new/dir/notes.txt')).output).toBe('1000\n');
    expect(await codeOf(sb.readFile('/repo/missing.txt'))).toBe(ErrorCodes.SANDBOX_FILE_ERROR);
    expect(await codeOf(sb.writeFile('/etc/passwd', 'x'))).toBe(ErrorCodes.SANDBOX_FILE_ERROR);
  });

  it('holds the repo at the base commit with none of the later history', async () => {
    expect((await sb.exec('git rev-parse HEAD')).output.trim()).toBe(baseCommit);
    expect((await sb.exec('git log --all --format=%s')).output).toBe('base\n');
    expect((await sb.exec(`git cat-file -e ${fixCommit}`)).exitCode).not.toBe(0);
    expect((await sb.exec('stat -c %U /repo /repo/calc.py')).output).toBe('agent\nagent\n');
  });

  it('diffs /repo against the base commit, untracked files included, without touching the index', async () => {
    await sb.exec('rm -rf /repo/new');
    await sb.writeFile('/repo/calc.py', 'def add(a, b):\n    return a + b\n');
    await sb.writeFile('/repo/extra.py', 'X = 1\n');
    await sb.writeFile('/repo/scratch.txt', 'notes\n');
    await sb.exec('python3 -m pytest -q test_calc.py');
    const diff = await sb.gitDiff({ excludePaths: ['scratch.txt'] });
    const blob = (text: string): string => execFileSync('git', ['hash-object', '--stdin'], { input: text, encoding: 'utf8' }).trim().slice(0, 7);
    expect(diff).toBe(
      [
        'diff --git a/calc.py b/calc.py',
        `index ${blob('def add(a, b):\n    return a - b\n')}..${blob('def add(a, b):\n    return a + b\n')} 100644`,
        '--- a/calc.py',
        '+++ b/calc.py',
        '@@ -1,2 +1,2 @@',
        ' def add(a, b):',
        '-    return a - b',
        '+    return a + b',
        'diff --git a/extra.py b/extra.py',
        'new file mode 100644',
        `index 0000000..${blob('X = 1\n')}`,
        '--- /dev/null',
        '+++ b/extra.py',
        '@@ -0,0 +1 @@',
        '+X = 1',
        '',
      ].join('\n'),
    );
    expect(diff).not.toContain('__pycache__');
    expect(diff).not.toContain('pytest_cache');
    expect((await sb.exec('git diff --cached --name-only; git status --porcelain')).output).toBe(' M calc.py\n?? extra.py\n?? scratch.txt\n');
    // A commit by the agent does not move the base of the diff.
    await sb.exec('git add -A && git commit -qm wip');
    expect(await sb.gitDiff({ excludePaths: ['scratch.txt'] })).toBe(diff);
  });

  it('snapshots to an image a new sandbox starts from with the same /repo', async () => {
    await sb.writeFile('/repo/snap.txt', 'kept across the snapshot\n');
    const imageId = await sb.snapshot();
    expect(imageId).toMatch(/^sha256:/);
    const restored = await newSandbox(imageId, 'ep-restored');
    expect(await restored.readFile('/repo/snap.txt')).toBe('kept across the snapshot\n');
    const labels = (await docker.getContainer(restored.containerId).inspect()).Config.Labels;
    expect(labels[Labels.episode]).toBe('ep-restored');
    expect(labels[Labels.manager]).toBe('');
    await restored.destroy();
    await docker.getImage(imageId).remove({ force: true });
  });

  it('re-attaches by container id, and reports a destroyed sandbox as gone', async () => {
    const again = await attachSandbox(docker, sb.containerId);
    expect(again.image).toBe(taskTag);
    expect((await again.exec('cat /repo/snap.txt')).output).toBe('kept across the snapshot\n');
    await sb.destroy();
    await sb.destroy();
    expect(await codeOf(sb.exec('true'))).toBe(ErrorCodes.SANDBOX_GONE);
    expect(await codeOf(attachSandbox(docker, sb.containerId))).toBe(ErrorCodes.SANDBOX_GONE);
  });
});

describe('host-side deadline', () => {
  it('drops an exec stream that outlives its deadline and reports the sandbox gone', async () => {
    // The in-container timeout makes this unreachable through Sandbox.exec; this is the safety net under it.
    const victim = await newSandbox(baseTag, 'ep-deadline');
    const container = docker.getContainer(victim.containerId);
    let killed = false;
    const t = performance.now();
    const code = await codeOf(
      execRaw(container, ['sleep', '30'], {
        user: limits.user,
        stdoutCap: 1024,
        stderrCap: 1024,
        deadlineMs: 500,
        onDeadline: async () => {
          killed = true;
          await container.kill();
        },
      }),
    );
    expect(code).toBe(ErrorCodes.SANDBOX_GONE);
    expect(killed).toBe(true);
    expect(performance.now() - t).toBeLessThan(5000);
    expect(await codeOf(victim.exec('true'))).toBe(ErrorCodes.SANDBOX_GONE);
  });
});

describe('leases', () => {
  it('caps concurrent leases, hands out pre-warmed containers and renews', async () => {
    const mgr = new LeaseManager(docker, { maxConcurrent: 1, prewarm: 1, leaseTtlSec: 60, acquireTimeoutMs: 300 });
    try {
      await mgr.prewarm({ image: baseTag, limits });
      expect(mgr.stats()).toMatchObject({ leased: 0, pooled: 1 });
      const a = await mgr.acquire({ image: baseTag, limits, labels: { run: RUN, episode: 'lease-a' } });
      expect(a.fromPool).toBe(true);
      expect((await a.sandbox.exec('id -u')).output).toBe('1000\n');
      expect(await codeOf(mgr.acquire({ image: baseTag, limits, labels: { run: RUN, episode: 'lease-b' } }))).toBe(ErrorCodes.LEASE_UNAVAILABLE);
      const before = Date.now();
      expect(mgr.renew(a.leaseId)).toBeGreaterThanOrEqual(before + 60_000);
      // A waiter gets the slot as soon as it is released.
      const waiting = mgr.acquire({ image: baseTag, limits, labels: { run: RUN, episode: 'lease-c' } });
      await mgr.release(a.leaseId);
      const c = await waiting;
      expect(await codeOf(a.sandbox.exec('true'))).toBe(ErrorCodes.SANDBOX_GONE);
      expect(() => mgr.renew(a.leaseId)).toThrow(/SWERL_SANDBOX_GONE/);
      await mgr.release(c.leaseId);
      await mgr.release(c.leaseId);
      expect(mgr.stats().leased).toBe(0);
      // The hand-outs started refills in the background; prewarm waits for those instead of skipping them.
      await mgr.prewarm({ image: baseTag, limits });
      expect(mgr.stats().pooled).toBe(1);
      const d = await mgr.acquire({ image: baseTag, limits, labels: { run: RUN, episode: 'lease-d' } });
      expect(d.fromPool).toBe(true);
      await mgr.release(d.leaseId);
      // That hand-out started another refill: close() waits for it and leaves nothing behind.
      await mgr.close();
      expect(await docker.listContainers({ all: true, filters: { label: [`${Labels.manager}=${mgr.id}`] } })).toEqual([]);
    } finally {
      await mgr.close();
    }
  });

  it('hands out no sandbox once closed: an acquisition in flight or waiting for a slot fails, and no container is left', async () => {
    const mgr = new LeaseManager(docker, { maxConcurrent: 1, prewarm: 0, leaseTtlSec: 60, acquireTimeoutMs: 200_000 });
    const ofManager = () => docker.listContainers({ all: true, filters: { label: [`${Labels.manager}=${mgr.id}`] } });
    try {
      const creating = codeOf(mgr.acquire({ image: baseTag, limits, labels: { run: RUN, episode: 'closed-creating' } }));
      const waiting = codeOf(mgr.acquire({ image: baseTag, limits, labels: { run: RUN, episode: 'closed-waiting' } }));
      // Close while the first container exists but (most likely) is still being started.
      await waitUntil('the first container', async () => (await ofManager()).length > 0, 60_000, 20);
      const closing = Date.now();
      await mgr.close();
      expect(await waiting).toBe(ErrorCodes.LEASE_UNAVAILABLE);
      expect(Date.now() - closing).toBeLessThan(150_000); // woken by close(), not by its 200 s acquire timeout
      // Handed out before close() (undefined), or refused by it: either way its container is gone.
      expect([undefined, ErrorCodes.LEASE_UNAVAILABLE]).toContain(await creating);
      expect(await ofManager()).toEqual([]);
    } finally {
      await mgr.close();
    }
  });

  it('never hands out a pooled container that died while idle', async () => {
    const mgr = new LeaseManager(docker, { maxConcurrent: 2, prewarm: 1, leaseTtlSec: 60 });
    try {
      await mgr.prewarm({ image: baseTag, limits });
      const [pooled] = await docker.listContainers({ filters: { label: [`${Labels.manager}=${mgr.id}`] } });
      await docker.getContainer(pooled?.Id as string).kill();
      const lease = await mgr.acquire({ image: baseTag, limits, labels: { run: RUN, episode: 'after-dead-pool' } });
      expect(lease.fromPool).toBe(false);
      expect(lease.sandbox.containerId).not.toBe(pooled?.Id);
      expect((await lease.sandbox.exec('echo fine')).output).toBe('fine\n');
    } finally {
      await mgr.close();
    }
  });

  it('takes the run config\'s sandbox section as its limits', async () => {
    const fromConfig = SandboxLimitsSchema.parse({ memoryMiB: 512 });
    const sb = await createSandbox(docker, { image: baseTag, limits: fromConfig, labels: { run: RUN, episode: 'ep-config' }, leaseTtlSec: 60 });
    created.push(sb);
    const info = await docker.getContainer(sb.containerId).inspect();
    expect(JSON.parse(info.Config.Labels[Labels.limits] as string)).toEqual({
      cpus: 0.5,
      memoryMiB: 512,
      pidsLimit: 256,
      outputLimitBytes: 65536,
      commandTimeoutSec: 120,
      user: '1000:1000',
    });
    expect((await sb.exec('id -u')).output).toBe('1000\n');
  });

  it('refuses an exec without a timeout or an output limit', async () => {
    const sb = await newSandbox(baseTag, 'ep-no-timeout');
    expect(await codeOf(sb.exec('true', { timeoutSec: 0 }))).toBe(ErrorCodes.CONFIG_INVALID);
  });

  it('reaps expired leases and leases a live manager does not know, and keeps the rest', async () => {
    const mgr = new LeaseManager(docker, { maxConcurrent: 4, prewarm: 0, leaseTtlSec: 600 });
    try {
      const kept = await mgr.acquire({ image: baseTag, limits, labels: { run: RUN, episode: 'kept' } });
      const lost = await mgr.acquire({ image: baseTag, limits, labels: { run: RUN, episode: 'lost' } });
      mgr.forget(lost.leaseId);
      const unmanaged = await newSandbox(baseTag, 'short-ttl', 1);
      await new Promise((r) => setTimeout(r, 1100));
      const reaped = await reapOrphans(docker);
      const mine = reaped.filter((r) => r.run === RUN).map((r) => [r.episode, r.reason]).sort();
      expect(mine).toEqual([
        ['lost', 'unknown-to-manager'],
        ['short-ttl', 'lease-expired'],
      ]);
      expect(await codeOf(unmanaged.exec('true'))).toBe(ErrorCodes.SANDBOX_GONE);
      expect((await kept.sandbox.exec('echo alive')).output).toBe('alive\n');
    } finally {
      await mgr.close();
    }
  });

  it("leaves another deployment's expired sandboxes to that deployment's reaper (SWERL_SANDBOX_SCOPE)", async () => {
    const before = process.env.SWERL_SANDBOX_SCOPE;
    const restore = () => {
      if (before === undefined) delete process.env.SWERL_SANDBOX_SCOPE;
      else process.env.SWERL_SANDBOX_SCOPE = before;
    };
    const scope = `other-deployment-${process.pid}`;
    const run = `${RUN}-scope`;
    // Judged at a time past its lease instead of waiting for it: other stacks' reapers on a shared
    // daemon (real time) keep seeing it as leased.
    const later = Date.now() + 3_600_000;
    try {
      process.env.SWERL_SANDBOX_SCOPE = scope;
      const foreign = await createSandbox(docker, { image: baseTag, limits, labels: { run, episode: 'scoped' }, leaseTtlSec: 600 });
      created.push(foreign);
      restore();
      expect((await docker.getContainer(foreign.containerId).inspect()).Config.Labels[Labels.scope]).toBe(scope);
      // This process's own scope: the expired sandbox is not its to judge.
      expect(await reapOrphans(docker, later, { run })).toEqual([]);
      expect((await foreign.exec('echo alive')).output).toBe('alive\n');
      // Its own deployment's reaper removes it.
      process.env.SWERL_SANDBOX_SCOPE = scope;
      expect((await reapOrphans(docker, later, { run })).map((r) => [r.episode, r.reason])).toEqual([['scoped', 'lease-expired']]);
      expect(await codeOf(foreign.exec('true'))).toBe(ErrorCodes.SANDBOX_GONE);
    } finally {
      restore();
    }
  });
});
