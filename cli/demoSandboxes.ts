/**
 * An interrupted demo's sandboxes. Its rollout workers are the only sandbox host of its private
 * task queues: once it exits nobody releases what they held, and another host's reaper would take
 * the containers only when their lease label expires (sandbox.leaseTtlSec later; session 11 found 8
 * of them still up 31 minutes after a Ctrl-C). So they are removed before the demo exits, within a
 * bound, and what is left past it is named, with the command that removes it.
 */
import Docker from 'dockerode';
import { Labels } from '../activities/sandbox';
import { ErrorCodes } from '../core/errors';

/** Generous: Docker on a loaded machine took more than the former 10 s for a dozen containers. */
export const RELEASE_TIMEOUT_SEC = 120;
/** Listing what is left after that bound must not hang the exit either. */
const LIST_LEFT_MS = 15_000;

/** What releasing needs of the rollout workers (workers/rollout.ts RolloutWorkers). */
export interface SandboxHost {
  shutdown(): void;
  close(): Promise<void>;
  leases: { id: string; drainPool(): Promise<unknown> };
}

/** What releasing needs of Docker (dockerode's Docker). */
export interface ContainerLister {
  listContainers(opts: { all: boolean; filters: { label: string[] } }): Promise<Array<{ Id: string }>>;
}

const within = <T>(ms: number, work: Promise<T>): Promise<{ done: true; value: T } | { done: false }> =>
  Promise.race([work.then((value) => ({ done: true as const, value })), new Promise<{ done: false }>((r) => setTimeout(() => r({ done: false }), ms))]);

/** The command that removes every container of this lease manager. */
export function removeCommand(managerId: string): string {
  return `docker rm -f $(docker ps -aq --filter label=${Labels.manager}=${managerId})`;
}

/**
 * Removes the host's sandboxes (leased, pooled, and any that a creation in flight made: every
 * container labelled with its lease manager) within `timeoutSec`. Resolves to undefined when none
 * is left, else to a SWERL_SANDBOX_RELEASE_TIMEOUT message naming what is (or may be) left and why.
 */
export async function releaseDemoSandboxes(host: SandboxHost, timeoutSec: number, opts: { docker?: ContainerLister; listTimeoutMs?: number } = {}): Promise<string | undefined> {
  const removal = (async () => {
    host.shutdown(); // no new activity starts here; the pre-warmed pool goes at once
    await host.close();
    await host.leases.drainPool(); // after close() nothing is held: every container of this manager goes
  })();
  const outcome = await within(timeoutSec * 1000, removal).catch((err: unknown) => ({ done: false as const, err }));
  const docker: ContainerLister = opts.docker ?? new Docker();
  const listing = docker.listContainers({ all: true, filters: { label: [`${Labels.manager}=${host.leases.id}`] } });
  const left = await within(opts.listTimeoutMs ?? LIST_LEFT_MS, listing).catch(() => ({ done: false as const }));
  if (left.done && left.value.length === 0) return undefined;
  const why =
    'err' in outcome
      ? `removing them failed (${outcome.err instanceof Error ? outcome.err.message : String(outcome.err)})`
      : outcome.done
        ? 'some survived their removal'
        : `their removal took longer than ${timeoutSec} s`;
  const what = left.done ? `${left.value.length} still exist (${left.value.map((c) => c.Id.slice(0, 12)).join(' ')})` : 'they may still exist (listing them failed)';
  return `${ErrorCodes.SANDBOX_RELEASE_TIMEOUT}: the demo's sandboxes: ${why}; ${what}. Remove them with: ${removeCommand(host.leases.id)}`;
}
