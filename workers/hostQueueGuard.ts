/**
 * One live process per sandbox host queue. Two processes polling `swerl-rollout-host-<id>` take
 * each other's host activities: a release lands on the process that does not hold the lease, the
 * holder's slot is never freed, and after `maxConcurrent` such leaks every acquire fails until the
 * lease TTL (a silent hang). So a rollout worker asks Temporal who polls its host queue before it
 * starts, and refuses with SWERL_HOST_QUEUE_TAKEN when another live process does.
 *
 * Temporal lists a poller for minutes after it stopped: a live idle poller re-polls about once a
 * minute (its last access is at most ~60 s old), a dead one's entry only ages. So an entry says
 * "polled recently", not "alive":
 * - entries older than POLLER_LIVE_SEC are ignored;
 * - an entry of this machine (identity `<pid>@<hostname>`, the SDK's default) is decided by its pid:
 *   a process that is gone (the previous incarnation of a restarted worker) does not count, so a
 *   supervisor's restart is never refused;
 * - a recent entry of another machine cannot be told from a live one without waiting a long-poll
 *   period: it is refused, and the message says that it clears within POLLER_LIVE_SEC if that host
 *   is in fact gone (a container recreated under another hostname with the same SWERL_HOST_ID).
 * Two worker sets of one process (same identity) are caught by an in-process registry.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { NativeConnection } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { ConfigError, ErrorCodes } from '../core/errors';

/** A poller whose last poll is older than this is taken for gone (a live one re-polls every ~60 s). */
export const POLLER_LIVE_SEC = 75;

export interface HostQueuePoller {
  identity: string;
  lastAccessMs: number;
}

export interface PollerOwner {
  pid: number;
  hostname: string;
}

/** Host queues polled by a rollout worker set of this process. */
const claimedHere = new Set<string>();

/** Is process `pid` of this machine alive? A zombie (exited, not yet reaped) is not. */
export function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && fs.existsSync('/proc/self/stat')) return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pollers that belong to another process that may be alive (see the module comment). */
export function otherLivePollers(
  pollers: readonly HostQueuePoller[],
  now: number,
  self: PollerOwner = { pid: process.pid, hostname: os.hostname() },
  isAlive: (pid: number) => boolean = processAlive,
): HostQueuePoller[] {
  return pollers.filter((p) => {
    if (now - p.lastAccessMs > POLLER_LIVE_SEC * 1000) return false;
    const m = /^(\d+)@(.+)$/.exec(p.identity);
    if (!m || m[2] !== self.hostname) return true;
    const pid = Number(m[1]);
    return pid !== self.pid && isAlive(pid);
  });
}

/**
 * Claims `hostQueue` for this process, or throws SWERL_HOST_QUEUE_TAKEN. The returned function
 * gives the claim up (the worker set closed).
 */
export async function claimHostQueue(connection: NativeConnection, namespace: string, hostQueue: string, hostId: string): Promise<() => void> {
  const taken = (holders: string, extra: string, details: Record<string, unknown>) =>
    new ConfigError(
      ErrorCodes.HOST_QUEUE_TAKEN,
      `host queue ${hostQueue} is already polled by ${holders}: two processes with one host id take each other's sandbox activities ` +
        `and leak sandbox leases. Give this process its own SWERL_HOST_ID (or --host-id)${extra}`,
      { hostQueue, hostId, ...details },
    );
  if (claimedHere.has(hostQueue)) throw taken('another rollout worker of this process', '', {});
  claimedHere.add(hostQueue);
  try {
    const described = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: hostQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    });
    const now = Date.now();
    const pollers = (described.pollers ?? []).map((p) => ({
      identity: p.identity ?? '',
      lastAccessMs: Number(p.lastAccessTime?.seconds ?? 0) * 1000 + Math.floor((p.lastAccessTime?.nanos ?? 0) / 1e6),
    }));
    const others = otherLivePollers(pollers, now);
    if (others.length > 0) {
      const holders = others.map((p) => `${p.identity} (last poll ${Math.round((now - p.lastAccessMs) / 1000)} s ago)`).join(', ');
      const remote = others.some((p) => !p.identity.endsWith(`@${os.hostname()}`));
      throw taken(holders, remote ? `; if that host is gone, its entry expires within ${POLLER_LIVE_SEC} s` : '', { pollers: others.map((p) => p.identity) });
    }
  } catch (err) {
    claimedHere.delete(hostQueue);
    throw err;
  }
  return () => claimedHere.delete(hostQueue);
}
