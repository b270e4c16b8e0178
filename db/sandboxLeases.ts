/**
 * Sandbox leases: the cap on concurrent containers per Docker host, and the record a reaper uses
 * to remove containers whose worker died. Acquisition counts and inserts under a per-host
 * transaction-scoped advisory lock, so two workers racing for the last slot cannot both win.
 * Lease ids come from the caller (derived from the episode), so a retried acquire is a no-op.
 */
import { and, eq, gt, inArray, isNull, lt, ne, sql } from 'drizzle-orm';
import { ErrorCodes, SandboxError } from '../core/errors';
import type { Db } from './client';
import { runs, sandboxLeases } from './schema';

export type SandboxLease = typeof sandboxLeases.$inferSelect;

export interface LeaseRequest {
  id: string;
  host: string;
  image: string;
  runId?: string | null;
  episodeId?: string | null;
  ttlSec: number;
}

/**
 * Takes a slot on `host`, or returns the lease already stored under this id (in whatever state it
 * is: the caller decides what a released or expired lease means for it). A full host throws the
 * retryable SWERL_LEASE_UNAVAILABLE. Leases past their expiry no longer hold a slot.
 */
export async function acquireLease(db: Db, request: LeaseRequest, maxConcurrent: number): Promise<{ lease: SandboxLease; acquired: boolean }> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`swerl.sandbox_lease:${request.host}`}))`);
    const existing = await tx.query.sandboxLeases.findFirst({ where: eq(sandboxLeases.id, request.id) });
    if (existing) return { lease: existing, acquired: false };
    const [held] = await tx
      .select({ n: sql<number>`count(*)::int` })
      .from(sandboxLeases)
      .where(and(eq(sandboxLeases.host, request.host), eq(sandboxLeases.status, 'active'), gt(sandboxLeases.expiresAt, sql`now()`)));
    if ((held?.n ?? 0) >= maxConcurrent) {
      throw new SandboxError(ErrorCodes.LEASE_UNAVAILABLE, `host ${request.host} already runs ${held?.n} of ${maxConcurrent} sandboxes; lease ${request.id} must wait`, {
        host: request.host,
        leaseId: request.id,
        maxConcurrent,
      });
    }
    const [lease] = await tx
      .insert(sandboxLeases)
      .values({
        id: request.id,
        host: request.host,
        image: request.image,
        runId: request.runId ?? null,
        episodeId: request.episodeId ?? null,
        expiresAt: sql`now() + make_interval(secs => ${request.ttlSec})`,
      })
      .returning();
    if (!lease) throw new Error(`lease ${request.id} insert returned no row`);
    return { lease, acquired: true };
  });
}

/** Records which container the lease holds, once it exists (labels alone are lost with the host). */
export async function setLeaseContainer(db: Db, leaseId: string, containerId: string): Promise<SandboxLease> {
  const [lease] = await db.update(sandboxLeases).set({ containerId }).where(eq(sandboxLeases.id, leaseId)).returning();
  if (!lease) throw new SandboxError(ErrorCodes.SANDBOX_GONE, `lease ${leaseId} not found`, { leaseId });
  return lease;
}

/**
 * Extends an active lease. A lease that expired or was reaped cannot be renewed: its container
 * may already be gone, so the episode is told SWERL_SANDBOX_GONE and rebuilds its sandbox.
 */
export async function renewLease(db: Db, leaseId: string, ttlSec: number): Promise<SandboxLease> {
  const [lease] = await db
    .update(sandboxLeases)
    .set({ renewedAt: sql`now()`, expiresAt: sql`now() + make_interval(secs => ${ttlSec})` })
    .where(and(eq(sandboxLeases.id, leaseId), eq(sandboxLeases.status, 'active'), gt(sandboxLeases.expiresAt, sql`now()`)))
    .returning();
  if (!lease) throw new SandboxError(ErrorCodes.SANDBOX_GONE, `lease ${leaseId} is no longer active`, { leaseId });
  return lease;
}

/** Releases the slot; releasing again (a retried release) changes nothing. */
export async function releaseLease(db: Db, leaseId: string): Promise<void> {
  await db
    .update(sandboxLeases)
    .set({ status: 'released', releasedAt: sql`now()` })
    .where(and(eq(sandboxLeases.id, leaseId), eq(sandboxLeases.status, 'active')));
}

/** Marks overdue leases expired and returns them, for the reaper to remove their containers. */
export async function expireLeases(db: Db, host?: string): Promise<SandboxLease[]> {
  return db
    .update(sandboxLeases)
    .set({ status: 'expired', releasedAt: sql`now()` })
    .where(
      and(
        eq(sandboxLeases.status, 'active'),
        lt(sandboxLeases.expiresAt, sql`now()`),
        host === undefined ? undefined : eq(sandboxLeases.host, host),
      ),
    )
    .returning();
}

/** Marks the episode's other active leases expired: an episode holds one sandbox at a time. */
async function supersedeOthers(tx: Parameters<Parameters<Db['transaction']>[0]>[0], episodeId: string | undefined, leaseId: string): Promise<void> {
  if (!episodeId) return;
  await tx
    .update(sandboxLeases)
    .set({ status: 'expired', releasedAt: sql`now()` })
    .where(and(eq(sandboxLeases.episodeId, episodeId), eq(sandboxLeases.status, 'active'), ne(sandboxLeases.id, leaseId)));
}

/** A stored run's id, or NULL (sandboxes of ad-hoc tests name runs that are not stored). */
const storedRun = (runId: string | undefined) => (runId ? sql`(select ${runs.id} from ${runs} where ${runs.id} = ${runId})` : null);

/**
 * Records a lease before its container exists (or a pre-warmed pool container's, with no run or
 * episode): no container id, a short expiry its lease manager keeps extending while it creates the
 * container or keeps it pooled (`extendPendingLeases`). A process killed meanwhile stops extending
 * it, so a reaper anywhere removes what it left behind once the row is overdue, whatever the
 * container's label says. Supersedes the episode's earlier active leases, like `recordHeldLease`.
 */
export async function recordPendingLease(
  db: Db,
  lease: { id: string; host: string; image: string; expiresAt: Date; runId?: string; episodeId?: string },
): Promise<void> {
  const { runId, episodeId, ...rest } = lease;
  await db.transaction(async (tx) => {
    await supersedeOthers(tx, episodeId, lease.id);
    await tx
      .insert(sandboxLeases)
      .values({ ...rest, containerId: null, runId: storedRun(runId), episodeId: episodeId || null })
      .onConflictDoNothing();
  });
}

/**
 * Moves the expiry of those of these leases that are active and still pending (no container id:
 * being created, or pooled) to at least `expiresAt`. A lease handed out meanwhile (its container id
 * set) is left alone: its holder's renewals decide its expiry from then on.
 */
export async function extendPendingLeases(db: Db, leaseIds: readonly string[], expiresAt: Date): Promise<number> {
  if (leaseIds.length === 0) return 0;
  const rows = await db
    .update(sandboxLeases)
    .set({ expiresAt: sql`greatest(${sandboxLeases.expiresAt}, ${expiresAt.toISOString()}::timestamptz)` })
    .where(and(inArray(sandboxLeases.id, [...leaseIds]), eq(sandboxLeases.status, 'active'), isNull(sandboxLeases.containerId)))
    .returning({ id: sandboxLeases.id });
  return rows.length;
}

/**
 * Records a lease a host's lease manager has granted (its own cap decided) once its container
 * exists, with the expiry its holder renews from now on: a new row, or the lease's pending row
 * (`recordPendingLease`) completed with the container, run and episode. The run is recorded when
 * it is a stored run. An episode holds one sandbox at a time: a new lease supersedes its earlier
 * active ones (a dead host's, or a retried acquire's), which are marked expired so that a reaper
 * anywhere may remove their containers. Returns false when the lease's row already ended (it was
 * superseded or reaped while its container was being created): the caller must not hand it out.
 * Calling it again for a held lease changes nothing but its expiry.
 */
export async function recordHeldLease(
  db: Db,
  lease: { id: string; host: string; image: string; containerId: string; expiresAt: Date; runId?: string; episodeId?: string },
): Promise<boolean> {
  const { runId, episodeId, ...rest } = lease;
  return db.transaction(async (tx) => {
    await supersedeOthers(tx, episodeId, lease.id);
    const rows = await tx
      .insert(sandboxLeases)
      .values({ ...rest, runId: storedRun(runId), episodeId: episodeId || null })
      .onConflictDoUpdate({
        target: sandboxLeases.id,
        set: {
          containerId: sql`excluded.container_id`,
          expiresAt: sql`excluded.expires_at`,
          runId: sql`excluded.run_id`,
          episodeId: sql`excluded.episode_id`,
          renewedAt: sql`now()`,
        },
        setWhere: eq(sandboxLeases.status, 'active'),
      })
      .returning({ id: sandboxLeases.id });
    return rows.length > 0;
  });
}

/** Moves an active lease's expiry to `expiresAt` (a renewal); returns false when the lease is not active. */
export async function extendHeldLease(db: Db, leaseId: string, expiresAt: Date): Promise<boolean> {
  const rows = await db
    .update(sandboxLeases)
    .set({ renewedAt: sql`now()`, expiresAt })
    .where(and(eq(sandboxLeases.id, leaseId), eq(sandboxLeases.status, 'active')))
    .returning({ id: sandboxLeases.id });
  return rows.length > 0;
}

/** The stored expiry (epoch ms) of each of these leases that is still active. */
export async function activeLeaseExpiries(db: Db, leaseIds: readonly string[]): Promise<Map<string, number>> {
  if (leaseIds.length === 0) return new Map();
  const rows = await db
    .select({ id: sandboxLeases.id, expiresAt: sandboxLeases.expiresAt })
    .from(sandboxLeases)
    .where(and(inArray(sandboxLeases.id, [...leaseIds]), eq(sandboxLeases.status, 'active')));
  return new Map(rows.map((r) => [r.id, r.expiresAt.getTime()]));
}

/**
 * Those of these leases whose row says they ended (released, or expired: overdue or superseded by
 * a newer lease of the same episode). Nobody holds their containers any more, whatever the
 * container's label expiry says: a rebuilt episode's old sandbox on a dead host is one.
 */
export async function endedLeaseIds(db: Db, leaseIds: readonly string[]): Promise<Set<string>> {
  if (leaseIds.length === 0) return new Set();
  const rows = await db
    .select({ id: sandboxLeases.id })
    .from(sandboxLeases)
    .where(and(inArray(sandboxLeases.id, [...leaseIds]), ne(sandboxLeases.status, 'active')));
  return new Set(rows.map((r) => r.id));
}

/**
 * Marks these leases expired when they are still active and overdue at `now`: a reaper removed
 * their containers because nobody renewed them. A holder's late write then finds the lease ended
 * (recordHeldLease returns false) instead of handing out a removed container.
 */
export async function expireOverdueLeases(db: Db, leaseIds: readonly string[], now: Date): Promise<void> {
  if (leaseIds.length === 0) return;
  await db
    .update(sandboxLeases)
    .set({ status: 'expired', releasedAt: sql`now()` })
    .where(and(inArray(sandboxLeases.id, [...leaseIds]), eq(sandboxLeases.status, 'active'), lt(sandboxLeases.expiresAt, now)));
}
