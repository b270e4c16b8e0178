/**
 * Removes sandbox containers nobody holds: a lease that expired, or one that a live lease manager
 * of this process does not know (it was released but the removal failed, or it belongs to a
 * manager that restarted under the same process). Containers of managers in other processes are
 * judged by their `swerl.lease-expires` label alone, so a crashed worker's sandboxes disappear
 * one TTL after their lease was taken.
 */
import type Docker from 'dockerode';
import { ErrorCodes, SandboxError } from '../../core/errors';
import { statusCodeOf } from './exec';
import { liveManager } from './leases';
import { Labels } from './types';

export type ReapReason = 'lease-expired' | 'unknown-to-manager';

export interface ReapedContainer {
  containerId: string;
  leaseId: string;
  run: string;
  episode: string;
  reason: ReapReason;
}

function reasonToReap(labels: Record<string, string>, now: number): ReapReason | undefined {
  const manager = liveManager(labels[Labels.manager] ?? '');
  if (manager) {
    const verdict = manager.verdict(labels[Labels.leaseId] ?? '', now);
    if (verdict === 'active') return undefined;
    return verdict === 'expired' ? 'lease-expired' : 'unknown-to-manager';
  }
  // A missing or garbled expiry is treated as expired: a managed container must say when it ends.
  const expires = Number(labels[Labels.leaseExpires]);
  return Number.isFinite(expires) && expires >= now ? undefined : 'lease-expired';
}

export async function reapOrphans(docker: Docker, now: number = Date.now()): Promise<ReapedContainer[]> {
  let containers: Docker.ContainerInfo[];
  try {
    containers = await docker.listContainers({ all: true, filters: { label: [`${Labels.managed}=true`] } });
  } catch (err) {
    throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `reaper cannot list containers: ${(err as Error).message}`, {}, { cause: err });
  }
  const reaped: ReapedContainer[] = [];
  for (const c of containers) {
    const labels = c.Labels ?? {};
    const reason = reasonToReap(labels, now);
    if (!reason) continue;
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
    } catch (err) {
      const code = statusCodeOf(err);
      if (code !== 404 && code !== 409) {
        throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `reaper cannot remove container ${c.Id.slice(0, 12)}: ${(err as Error).message}`, { containerId: c.Id }, { cause: err });
      }
    }
    const leaseId = labels[Labels.leaseId] ?? '';
    liveManager(labels[Labels.manager] ?? '')?.forget(leaseId);
    reaped.push({ containerId: c.Id, leaseId, run: labels[Labels.run] ?? '', episode: labels[Labels.episode] ?? '', reason });
  }
  return reaped;
}

/** Runs the reaper every `intervalMs` until the returned function is called; errors go to `onError`. */
export function runReaperEvery(docker: Docker, intervalMs: number, onError: (err: unknown) => void = () => undefined): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    reapOrphans(docker)
      .catch(onError)
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
