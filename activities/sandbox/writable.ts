/**
 * The per-sandbox disk quota (issue 15). Docker's overlay2 on ext4 (this host) has no per-container
 * size: `--storage-opt size` needs overlay2 on xfs mounted with pquota, that is a second daemon with
 * its own image store on a loop file. So the root filesystem is read-only and every path the agent,
 * the tools or the reward harness write is a size-capped tmpfs. tmpfs pages are charged to the
 * container's memory cgroup: nothing written inside reaches the host's disk, and a full mount is
 * ENOSPC inside.
 *
 * The budget, `sandbox.diskMiB` (default memoryMiB / 2), is split among the mounts by WRITABLE's
 * shares, which sum to 1: however the agent spreads its writes it runs out of space before the
 * memory cgroup runs out of memory (that would be an OOM kill, not ENOSPC). A mount over a path
 * where the image has files (the repository, /home, the venv) hides them, so they are copied in
 * after start, and that mount is sized their footprint plus its share.
 *
 * The copy: the daemon's archive of the path in a second, never-started container of the image (a
 * running container's archive holds the container's lock, so an exec into it would wait for ever),
 * piped into `tar -x` run in the sandbox as the sandbox user. The copied trees belong to that user
 * (our images chown them to it anyway).
 */
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { extract } from 'tar-stream';
import { execRaw } from './exec';
import type { SandboxLimits } from './types';

const MiB = 1024 * 1024;
const PAGE = 4096;
/** A 180 MB repository takes seconds on a loaded host; a broken copy fails long before this. */
const COPY_DEADLINE_MS = 600_000;

type Owner = 'user' | 'root';

interface WritablePath {
  path: string;
  /** Of diskMiB. */
  share: number;
  /** The image's files there are copied in (and the mount belongs to the sandbox user). */
  copy: boolean;
  owner: Owner;
  options: string;
}

const USER_TREE = 'rw,nosuid,nodev,exec,mode=755';
const SCRATCH = 'rw,nosuid,nodev,exec,mode=1777';

/**
 * The harness's own: the tool server's command records and the grader plugin (root's), and where
 * the end-of-episode diff is staged (the sandbox user's, emptied before each diff, so an agent that
 * filled /tmp or this mount still gets its diff: sandbox/tools/lib/swerl_tools/server.py).
 */
const HARNESS: readonly WritablePath[] = [
  { path: '/run/swerl', share: 1 / 64, copy: false, owner: 'root', options: 'rw,nosuid,nodev,noexec,mode=700' },
  { path: '/opt/swerl-grader', share: 1 / 64, copy: false, owner: 'root', options: 'rw,nosuid,nodev,noexec,mode=755' },
  { path: '/run/swerl-diff', share: 1 / 16, copy: false, owner: 'user', options: 'rw,nosuid,nodev,noexec,mode=700' },
];

/** Scratch, and the harness's own: a snapshot keeps only the rest (as a `docker commit` left out /tmp). */
const NOT_SNAPSHOTTED = new Set(['/tmp', '/var/tmp', ...HARNESS.map((h) => h.path)]);

/** What the plan needs from the image. */
export interface ImageFacts {
  id: string;
  /** /repo, and the image's working directory when it is another (a task layout's repository, e.g. /testbed). */
  repoDirs: string[];
  /** /home, and $HOME when it is elsewhere (e.g. /root). */
  homes: string[];
  /** The image's $VIRTUAL_ENV: eval scripts `pip install -e .` into it. */
  venv?: string;
}

function absolute(p: string | undefined): string | undefined {
  if (!p || !p.startsWith('/')) return undefined;
  const n = posix.normalize(p).replace(/\/+$/, '');
  return n === '' ? undefined : n;
}

export async function imageFacts(docker: Docker, image: string): Promise<ImageFacts> {
  const info = await docker.getImage(image).inspect();
  const env = new Map((info.Config?.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] as const));
  const workdir = absolute(info.Config?.WorkingDir);
  const home = absolute(env.get('HOME'));
  return {
    id: info.Id,
    repoDirs: ['/repo', ...(workdir && workdir !== '/repo' ? [workdir] : [])],
    homes: ['/home', ...(home && !home.startsWith('/home/') && home !== '/home' ? [home] : [])],
    venv: absolute(env.get('VIRTUAL_ENV')),
  };
}

function writablePaths(image: ImageFacts): WritablePath[] {
  const split = (paths: string[], share: number, copy: boolean, options: string): WritablePath[] =>
    paths.map((path) => ({ path, share: share / paths.length, copy, owner: 'user' as Owner, options }));
  const all = [
    ...split(image.repoDirs, 1 / 2, true, USER_TREE),
    { path: '/tmp', share: 3 / 16, copy: false, owner: 'root' as Owner, options: SCRATCH },
    ...split(image.homes, 1 / 8, true, USER_TREE),
    ...(image.venv ? split([image.venv], 1 / 16, true, USER_TREE) : []),
    { path: '/var/tmp', share: 1 / 32, copy: false, owner: 'root' as Owner, options: SCRATCH },
    ...HARNESS,
  ];
  // A path inside another writable one (a venv in the repository) is already covered by it.
  const within = (p: string, q: string): boolean => p !== q && p.startsWith(`${q}/`);
  return all.filter((w, i) => !all.some((o, j) => within(w.path, o.path) || (o.path === w.path && j < i)));
}

export interface WritableMount {
  path: string;
  sizeMiB: number;
  /** Docker's HostConfig.Tmpfs value. */
  options: string;
  /** Bytes of the image's files to copy in (0: nothing there). */
  footprint: number;
}

export function diskMiBOf(limits: SandboxLimits): number {
  return limits.diskMiB ?? Math.floor(limits.memoryMiB / 2);
}

/** uid and gid of a numeric `uid[:gid]` user; a named user leaves the mount root world-writable instead. */
function ownerOptions(user: string): string {
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  return m ? `,uid=${m[1]},gid=${m[2] ?? m[1]}` : ',mode=1777';
}

export function writableMounts(image: ImageFacts, footprints: ReadonlyMap<string, number>, limits: SandboxLimits): WritableMount[] {
  const disk = diskMiBOf(limits);
  return writablePaths(image).map((w) => {
    const footprint = w.copy ? (footprints.get(w.path) ?? 0) : 0;
    // The copy's own size plus slack for tmpfs rounding, then the agent's share on top.
    const contentMiB = footprint > 0 ? Math.ceil((footprint + footprint / 10) / MiB) + 4 : 0;
    const sizeMiB = Math.max(1, Math.floor(disk * w.share)) + contentMiB;
    const owner = w.owner === 'user' ? ownerOptions(limits.user) : '';
    return { path: w.path, sizeMiB, options: `${w.options}${owner},size=${sizeMiB}m`, footprint };
  });
}

/** The paths a snapshot keeps (the sandbox user's trees), from a container's tmpfs mounts. */
export function snapshotPaths(tmpfs: Record<string, string>): string[] {
  return Object.keys(tmpfs).filter((p) => !NOT_SNAPSHOTTED.has(p)).sort();
}

function statusCode(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

/** The archive of `path` in `source`, or undefined when the image has nothing there. */
async function archiveOf(source: Docker.Container, path: string): Promise<Readable | undefined> {
  try {
    return (await source.getArchive({ path })) as unknown as Readable;
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw err;
  }
}

/** Bytes a tree takes in a tmpfs: every file rounded up to whole pages. */
async function footprintOf(source: Docker.Container, path: string): Promise<number> {
  const archive = await archiveOf(source, path);
  if (!archive) return 0;
  let bytes = 0;
  const ex = extract();
  await new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, body, next) => {
      bytes += Math.ceil((header.size ?? 0) / PAGE) * PAGE;
      body.on('end', next);
      body.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
    archive.on('error', reject);
    archive.pipe(ex);
  });
  return bytes;
}

/** Per image id: what its copied paths take (measured once per process from a never-started container). */
const footprintCache = new Map<string, Promise<Map<string, number>>>();

export function footprints(image: ImageFacts, source: Docker.Container): Promise<Map<string, number>> {
  const paths = writablePaths(image).filter((w) => w.copy).map((w) => w.path);
  const key = JSON.stringify([image.id, paths]);
  let p = footprintCache.get(key);
  if (!p) {
    p = Promise.all(paths.map(async (path) => [path, await footprintOf(source, path)] as const)).then((e) => new Map(e));
    footprintCache.set(key, p);
    p.catch(() => footprintCache.delete(key));
  }
  return p;
}

/** Copies the image's files of each mount that has some from `source` into the running `container`. */
export async function copyIn(source: Docker.Container, container: Docker.Container, mounts: readonly WritableMount[], user: string): Promise<void> {
  await Promise.all(
    mounts
      .filter((m) => m.footprint > 0)
      .map(async (m) => {
        const archive = await archiveOf(source, m.path);
        if (!archive) return;
        const r = await execRaw(container, ['tar', '-x', '--no-same-owner', '-p', '-C', posix.dirname(m.path)], {
          user,
          stdin: archive,
          stdoutCap: 4096,
          stderrCap: 16 * 1024,
          deadlineMs: COPY_DEADLINE_MS,
          onDeadline: async () => undefined,
        });
        if (r.exitCode !== 0) {
          throw new Error(`copying the image's ${m.path} into its ${m.sizeMiB} MiB tmpfs: tar exited ${r.exitCode}: ${r.stderr.toBuffer().toString('utf8').trim().slice(-2000)}`);
        }
      }),
  );
}
