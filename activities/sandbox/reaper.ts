/**
 * Removes sandbox containers nobody holds: a lease that expired, or one that a live lease manager
 * of this process does not know (it was released but the removal failed, or it belongs to a
 * manager that restarted under the same process). Containers of managers in other processes are
 * judged by their `swerl.lease-expires` label, so a crashed worker's sandboxes disappear one TTL
 * after their lease was taken. Given the database, a lease's row decides whatever its label says:
 * one whose stored expiry (renewed by its holder in another process, or extended by its manager
 * while the container is created or pooled: leases.ts `ledger`) has not passed is kept; one that
 * is overdue (its holder or creator died) or that the database says ended (released, or superseded
 * when its episode was rebuilt on another host) is removed. A killed rollout worker's sandboxes
 * (held, half-created or pooled) go within a reaper pass of the rebuild or of the pending TTL
 * (leases.ts PENDING_LEASE_TTL_SEC), not one lease TTL (default 1 h) later. A lease with no row
 * (a manager without a ledger, another deployment's database) is judged by its label.
 */
import type Docker from 'dockerode';
import { ErrorCodes, SandboxError } from '../../core/errors';
import { statusCodeOf } from './exec';
import type { Db } from '../../db/client';
import { endedLeaseIds, expireOverdueLeases } from '../../db/sandboxLeases';
import { liveManager, storedLeaseExpiries } from './leases';
import { Labels, sandboxScope } from './types';

/** `lease-ended`: the ledger says the lease was released or superseded (its episode was rebuilt elsewhere) although the label has not expired. */
export type ReapReason = 'lease-expired' | 'lease-ended' | 'unknown-to-manager';

export interface ReapedContainer {
  containerId: string;
  leaseId: string;
  run: string;
  episode: string;
  reason: ReapReason;
}

function reasonToReap(labels: Record<string, string>, now: number, stored: ReadonlyMap<string, number>, ended: ReadonlySet<string>): ReapReason | undefined {
  const manager = liveManager(labels[Labels.manager] ?? '');
  if (manager) {
    const verdict = manager.verdict(labels[Labels.leaseId] ?? '', now);
    if (verdict === 'active') return undefined;
    return verdict === 'expired' ? 'lease-expired' : 'unknown-to-manager';
  }
  // Held in another process (or by a dead one): a lease the ledger says ended is nobody's, label or not.
  const leaseId = labels[Labels.leaseId] ?? '';
  if (ended.has(leaseId)) return 'lease-ended';
  // Its active row is the lease: kept alive by whoever holds or creates it; overdue, that one is gone.
  const storedExpiry = leaseId ? stored.get(leaseId) : undefined;
  if (storedExpiry !== undefined) return storedExpiry >= now ? undefined : 'lease-expired';
  // No row: a missing or garbled expiry is treated as expired: a managed container must say when it ends.
  const expires = Number(labels[Labels.leaseExpires]);
  return Number.isFinite(expires) && expires >= now ? undefined : 'lease-expired';
}

/** How long a removal someone else started (409: its holder's own sweep, another reaper) may take. */
export const FOREIGN_REMOVAL_WAIT_MS = 30_000;

/**
 * Waits until a container whose removal another caller started is gone, so that what the reaper
 * reports as reaped no longer exists; still there after FOREIGN_REMOVAL_WAIT_MS is a coded error.
 */
async function untilRemoved(docker: Docker, id: string): Promise<void> {
  const deadline = Date.now() + FOREIGN_REMOVAL_WAIT_MS;
  for (;;) {
    try {
      await docker.getContainer(id).inspect();
    } catch (err) {
      if (statusCodeOf(err) === 404) return;
      throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `reaper cannot inspect container ${id.slice(0, 12)}: ${(err as Error).message}`, { containerId: id }, { cause: err });
    }
    if (Date.now() >= deadline) {
      throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `container ${id.slice(0, 12)} still exists ${FOREIGN_REMOVAL_WAIT_MS / 1000} s after another removal of it began`, { containerId: id });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `db`: consult stored lease renewals; `run`: only containers of this run (a test sharing the daemon). */
export async function reapOrphans(docker: Docker, now: number = Date.now(), opts: { db?: Db; run?: string } = {}): Promise<ReapedContainer[]> {
  let containers: Docker.ContainerInfo[];
  try {
    const label = [`${Labels.managed}=true`, ...(opts.run !== undefined ? [`${Labels.run}=${opts.run}`] : [])];
    const scope = sandboxScope();
    // Another deployment's sandboxes (its leases live in its own database) are not ours to judge.
    containers = (await docker.listContainers({ all: true, filters: { label } })).filter((c) => (c.Labels?.[Labels.scope] ?? '') === scope);
  } catch (err) {
    throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `reaper cannot list containers: ${(err as Error).message}`, {}, { cause: err });
  }
  // Renewals of leases held in other processes live in Postgres, not in the labels.
  const elsewhere = containers.map((c) => c.Labels ?? {}).filter((l) => !liveManager(l[Labels.manager] ?? '') && l[Labels.leaseId]);
  const elsewhereIds = elsewhere.map((l) => l[Labels.leaseId]!);
  const stored = opts.db ? await storedLeaseExpiries(opts.db, elsewhereIds) : new Map<string, number>();
  const ended = opts.db ? await endedLeaseIds(opts.db, elsewhereIds) : new Set<string>();
  const reaped: ReapedContainer[] = [];
  const overdue = new Set<string>();
  for (const c of containers) {
    const labels = c.Labels ?? {};
    const reason = reasonToReap(labels, now, stored, ended);
    if (!reason) continue;
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
    } catch (err) {
      const code = statusCodeOf(err);
      if (code === 409) await untilRemoved(docker, c.Id);
      else if (code !== 404) {
        throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `reaper cannot remove container ${c.Id.slice(0, 12)}: ${(err as Error).message}`, { containerId: c.Id }, { cause: err });
      }
    }
    const leaseId = labels[Labels.leaseId] ?? '';
    liveManager(labels[Labels.manager] ?? '')?.forget(leaseId);
    if (reason === 'lease-expired' && stored.has(leaseId)) overdue.add(leaseId);
    reaped.push({ containerId: c.Id, leaseId, run: labels[Labels.run] ?? '', episode: labels[Labels.episode] ?? '', reason });
  }
  // The rows of the leases whose containers went for being overdue end too: a late write of their
  // holder (a stalled, not dead, process) then finds them ended rather than a removed container.
  if (opts.db) await expireOverdueLeases(opts.db, [...overdue], new Date(now));
  return reaped;
}

/** Runs the reaper every `intervalMs` until the returned function is called; errors go to `onError`. */
export function runReaperEvery(docker: Docker, intervalMs: number, onError: (err: unknown) => void = () => undefined, db?: Db): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    reapOrphans(docker, Date.now(), { db })
      .catch(onError)
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
