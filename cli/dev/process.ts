/**
 * Process plumbing for the dev stack: detached children that outlive the CLI, pid files that
 * may be stale, and finding who holds a TCP port (from /proc, so it works without lsof/ss).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A zombie answers kill(0) but is gone for every purpose we care about. */
function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** Whether any process is left in a process group (e.g. postgres backends after the postmaster). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return groupMembers(pgid).length > 0;
}

function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) members.push(Number(entry));
    } catch {
      // the process exited while we looked
    }
  }
  return members;
}

export function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/**
 * The pid recorded in a pid file, if that process is alive and its command line contains
 * `expect` (guards against a recycled pid). A stale file is removed when `cleanStale` is set.
 */
export function livePidFromFile(file: string, expect: string, cleanStale = true): number | undefined {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(raw.split('\n')[0]?.trim());
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid) && commandLine(pid).includes(expect)) return pid;
  if (cleanStale) fs.rmSync(file, { force: true });
  return undefined;
}

export interface DetachedOptions {
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
}

export interface DetachedChild {
  pid: number;
  /** Resolves with the exit code (or signal) if the child dies while this process still runs. */
  exited: Promise<string>;
}

/**
 * Start a child in its own process group with stdout/stderr appended to a log file, so that it
 * survives the CLI exiting and its whole group can be signalled at once.
 */
export function spawnDetached(command: string, args: string[], opts: DetachedOptions): DetachedChild {
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = fs.openSync(opts.logFile, 'a');
  try {
    fs.writeSync(fd, `\n--- ${new Date().toISOString()} ${command} ${args.join(' ')}\n`);
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      uid: opts.uid,
      gid: opts.gid,
    });
    const exited = new Promise<string>((resolve) => {
      child.once('error', (err) => resolve(`spawn error: ${err.message}`));
      child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit code ${code}`));
    });
    child.unref();
    if (child.pid === undefined) {
      // spawn failed synchronously (e.g. ENOENT); the 'error' event carries the reason
      return { pid: -1, exited };
    }
    return { pid: child.pid, exited };
  } finally {
    fs.closeSync(fd);
  }
}

/** Send a signal and wait until the process (and, with `group`, its whole group) is gone. */
export async function signalAndWait(
  pid: number,
  signal: NodeJS.Signals,
  opts: { group?: boolean; timeoutMs?: number; escalate?: boolean } = {},
): Promise<boolean> {
  const target = opts.group ? -pid : pid;
  try {
    process.kill(target, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
  if (await waitGone(pid, { group: opts.group, timeoutMs: opts.timeoutMs ?? 20_000 })) return true;
  if (!opts.escalate) return false;
  try {
    process.kill(target, 'SIGKILL');
  } catch {
    // already gone
  }
  return waitGone(pid, { group: opts.group, timeoutMs: 10_000 });
}

/** Wait until a process (and, with `group`, every process in the group it leads) has exited. */
export function waitGone(pid: number, opts: { group?: boolean; timeoutMs: number }): Promise<boolean> {
  return waitUntil(() => !isAlive(pid) && !(opts.group && groupAlive(pid)), opts.timeoutMs);
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(everyMs);
  }
}

/** True when nothing can bind 127.0.0.1:port right now. */
export function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(true));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(false)));
  });
}

/** The pid of the process listening on a TCP port, from /proc/net/tcp{,6} and fd links. */
export function listenerPid(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      // state 0A = LISTEN
      if (!local || cols[3] !== '0A') continue;
      if (parseInt(local.split(':')[1] ?? '', 16) === port && cols[9]) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const link = fs.readlinkSync(`/proc/${entry}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m?.[1] && inodes.has(m[1])) return Number(entry);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return undefined;
}

/** The last `lines` lines of a log file, for error messages. */
export function tailFile(file: string, lines = 30): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no log at ${file})`;
  }
}

/** Resolve a command name against PATH, like `command -v`. */
export function findOnPath(name: string, extraDirs: string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...extraDirs].filter(Boolean);
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
