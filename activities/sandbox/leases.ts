/**
 * Leases on sandboxes of one Docker host: a cap on concurrent leases, a TTL the holder renews, and a
 * small pool of pre-started containers per (image, limits) so an episode does not pay for a
 * container start. State is in-process; the container labels (lease id, manager id, expiry) are
 * what a reaper in any process can see, and with a `ledger` every lease and each renewal is also
 * stored in Postgres (sandbox_leases), so a reaper in another process sharing the Docker daemon
 * sees a lease renewed past its label's creation expiry as held (reaper.ts, `db`).
 *
 * With a ledger the row comes first: it is written before the container is created, with a short
 * expiry (`pendingTtlSec`) this manager extends while it creates the container and, for a pool
 * container, while it stays in the pool; the lease's real expiry is set when it is handed out. A
 * process killed at any point (between `docker create` and the hand-out, or with a pool) leaves
 * rows nobody extends, so the survivors' reapers remove its containers within `pendingTtlSec` and
 * a reaper pass, not one label TTL (the lease TTL, default 1 h) later.
 *
 * The cap counts leases, not pool containers: pooled containers are idle `sleep`s, at most `prewarm`
 * of them per image and `poolMax` in all. A suite of many task images would otherwise keep
 * `prewarm` idle containers for every image it ever ran (140 images: ~280 containers, dockerd and
 * containerd busy with them); past `poolMax`, the pool of the image used least recently gives up an
 * idle container to the image that needs one now.
 */
import { randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { ErrorCodes, SandboxError } from '../../core/errors';
import type { Db } from '../../db/client';
import { activeLeaseExpiries, extendHeldLease, extendPendingLeases, recordHeldLease, recordPendingLease, releaseLease } from '../../db/sandboxLeases';
import { createSandbox } from './sandbox';
import { statusCodeOf } from './exec';
import { Labels, type Sandbox, type SandboxLimits } from './types';

export interface LeaseManagerOptions {
  maxConcurrent: number;
  /** Pre-started containers kept per (image, limits). 0 disables the pool. */
  prewarm: number;
  /** Pre-started containers kept in all pools together (default maxConcurrent). */
  poolMax?: number;
  leaseTtlSec: number;
  /** How long acquire waits for a free slot before failing with SWERL_LEASE_UNAVAILABLE. */
  acquireTimeoutMs?: number;
  /** A pooled container older than this is replaced rather than handed out. */
  poolMaxIdleSec?: number;
  /**
   * Stores leases and renewals in Postgres under this host name, for reapers in other processes.
   * `pendingTtlSec` (default PENDING_LEASE_TTL_SEC): how long the row of a container being created
   * or pooled outlives this manager's last extension of it (every sixth of it).
   */
  ledger?: { db: Db; host: string; pendingTtlSec?: number };
}

/** A pending (being created, or pooled) lease's row expires this long after its manager last extended it. */
export const PENDING_LEASE_TTL_SEC = 120;

export interface AcquireSpec {
  image: string;
  limits: SandboxLimits;
  labels: { run: string; episode: string };
  /** This lease's TTL (the run config's `sandbox.leaseTtlSec`) instead of the manager's. */
  leaseTtlSec?: number;
}

export interface AcquiredLease {
  leaseId: string;
  sandbox: Sandbox;
  /** True when the container came from the pre-warmed pool. */
  fromPool: boolean;
}

export type LeaseVerdict = 'active' | 'expired' | 'unknown';

interface LeaseState {
  sandbox: Sandbox;
  expiresAt: number;
  ttlSec: number;
  labels: { run: string; episode: string };
}

interface PooledSandbox {
  leaseId: string;
  sandbox: Sandbox;
  createdAt: number;
}

interface Pool {
  spec: AcquireSpec;
  ready: PooledSandbox[];
  /** Containers being started for this pool. */
  filling: Set<Promise<void>>;
  /** When a lease of this pool's (image, limits) was last asked for: the least recent gives up room first. */
  lastUsedAt: number;
}

/** Managers alive in this process, by id: the reaper asks them before trusting a label. */
const liveManagers = new Map<string, LeaseManager>();

export function liveManager(managerId: string): LeaseManager | undefined {
  return liveManagers.get(managerId);
}

function poolKey(spec: AcquireSpec): string {
  const l = spec.limits;
  return JSON.stringify([spec.image, l.cpus, l.memoryMiB, l.pidsLimit, l.outputLimitBytes, l.commandTimeoutSec, l.user, l.diskMiB ?? null]);
}

export class LeaseManager {
  readonly id = randomUUID();
  private readonly leases = new Map<string, LeaseState>();
  /** Lease ids whose container is being created or handed over: not yet in `leases`, not orphans. */
  private readonly pending = new Set<string>();
  /** Acquisitions past their slot: close() waits for them, so none hands out a sandbox after it. */
  private readonly acquiring = new Set<Promise<AcquiredLease>>();
  private readonly pools = new Map<string, Pool>();
  private readonly waiters: Array<() => void> = [];
  private slotsTaken = 0;
  private closed = false;
  /** Set by drainPool(): the host is shutting down, so nothing new goes into the pool. */
  private draining = false;
  /** The last error of a background pool refill, for status output; refills never throw. */
  lastPoolError: Error | undefined;
  /** Idle pooled containers removed to make room for another image's pool (see `poolMax`). */
  poolEvictions = 0;
  /** The last failed ledger write (renewal, release), for status output. */
  lastLedgerError: Error | undefined;
  private readonly ledgerWrites = new Set<Promise<void>>();
  private readonly keepAlive: NodeJS.Timeout | undefined;
  private keepAliveInFlight = false;

  constructor(
    private readonly docker: Docker,
    private readonly opts: LeaseManagerOptions,
  ) {
    liveManagers.set(this.id, this);
    if (opts.ledger) {
      this.keepAlive = setInterval(() => this.extendPending(), Math.max(250, (this.pendingTtlSec() * 1000) / 6));
      this.keepAlive.unref();
    }
  }

  private pendingTtlSec(): number {
    return this.opts.ledger?.pendingTtlSec ?? PENDING_LEASE_TTL_SEC;
  }

  private pendingExpiry(): Date {
    return new Date(Date.now() + this.pendingTtlSec() * 1000);
  }

  /** Extends the rows of the containers this manager is creating or keeps pooled (one write at a time). */
  private extendPending(): void {
    const ledger = this.opts.ledger;
    if (!ledger || this.keepAliveInFlight) return;
    const ids = [...this.pending];
    for (const pool of this.pools.values()) ids.push(...pool.ready.map((p) => p.leaseId));
    if (ids.length === 0) return;
    this.keepAliveInFlight = true;
    this.track(
      extendPendingLeases(ledger.db, ids, this.pendingExpiry())
        .then(() => undefined)
        .finally(() => {
          this.keepAliveInFlight = false;
        }),
    );
  }

  /** Ends a lease's row that will never be handed out (its container failed, was discarded or drained). */
  private releaseRow(leaseId: string): void {
    if (this.opts.ledger) this.track(releaseLease(this.opts.ledger.db, leaseId));
  }

  private async takeSlot(): Promise<void> {
    if (this.slotsTaken < this.opts.maxConcurrent) {
      this.slotsTaken++;
      return;
    }
    const timeoutMs = this.opts.acquireTimeoutMs ?? 30_000;
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.slotsTaken++;
        resolve();
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(wake);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(
          new SandboxError(ErrorCodes.LEASE_UNAVAILABLE, `no sandbox slot free on this host within ${timeoutMs} ms (maxConcurrent ${this.opts.maxConcurrent})`, {
            managerId: this.id,
            maxConcurrent: this.opts.maxConcurrent,
          }),
        );
      }, timeoutMs);
      this.waiters.push(wake);
    });
  }

  private freeSlot(): void {
    this.slotsTaken--;
    this.waiters.shift()?.();
  }

  async acquire(spec: AcquireSpec): Promise<AcquiredLease> {
    if (this.closed) throw new SandboxError(ErrorCodes.LEASE_UNAVAILABLE, `lease manager ${this.id} is closed`, { managerId: this.id });
    const attempt = this.takeSlot().then(() => this.acquireInSlot(spec));
    this.acquiring.add(attempt);
    try {
      return await attempt;
    } finally {
      this.acquiring.delete(attempt);
    }
  }

  private async acquireInSlot(spec: AcquireSpec): Promise<AcquiredLease> {
    const ttlSec = spec.leaseTtlSec ?? this.opts.leaseTtlSec;
    const ledger = this.opts.ledger;
    let leaseId: string | undefined;
    let sandbox: Sandbox | undefined;
    try {
      if (this.closed) throw new SandboxError(ErrorCodes.LEASE_UNAVAILABLE, `lease manager ${this.id} is closed`, { managerId: this.id });
      const pooled = await this.takeFromPool(spec);
      leaseId = pooled?.leaseId ?? randomUUID();
      this.pending.add(leaseId);
      sandbox = pooled?.sandbox;
      if (!sandbox) {
        // The row before the container: a process killed while Docker creates it leaves a row that
        // nobody extends, which a reaper elsewhere trusts over the container's label.
        if (ledger) {
          await recordPendingLease(ledger.db, {
            id: leaseId,
            host: ledger.host,
            image: spec.image,
            expiresAt: this.pendingExpiry(),
            runId: spec.labels.run,
            episodeId: spec.labels.episode,
          });
        }
        sandbox = await createSandbox(this.docker, { ...spec, leaseTtlSec: ttlSec }, { leaseId, managerId: this.id });
      }
      const expiresAt = Date.now() + ttlSec * 1000;
      if (ledger) {
        // Before the lease is handed out: once the holder renews, the stored row is what a reaper elsewhere trusts.
        const held = await recordHeldLease(ledger.db, {
          id: leaseId,
          host: ledger.host,
          image: spec.image,
          containerId: sandbox.containerId,
          expiresAt: new Date(expiresAt),
          runId: spec.labels.run,
          episodeId: spec.labels.episode,
        });
        if (!held) {
          throw new SandboxError(
            ErrorCodes.SANDBOX_GONE,
            `lease ${leaseId} ended before its sandbox was handed out (superseded by a newer lease of episode ${spec.labels.episode || '-'}, or reaped)`,
            { leaseId, managerId: this.id, ...spec.labels },
          );
        }
      }
      // Closed while the container was made: close() waits for this attempt, which removes it (catch below).
      if (this.closed) throw new SandboxError(ErrorCodes.LEASE_UNAVAILABLE, `lease manager ${this.id} was closed while lease ${leaseId} was acquired`, { managerId: this.id, leaseId });
      this.leases.set(leaseId, { sandbox, expiresAt, ttlSec, labels: spec.labels });
      this.pending.delete(leaseId);
      this.fillPool(spec);
      return { leaseId, sandbox, fromPool: pooled !== undefined };
    } catch (err) {
      if (leaseId !== undefined) {
        this.pending.delete(leaseId);
        await sandbox?.destroy().catch(() => undefined);
        this.releaseRow(leaseId);
      }
      this.freeSlot();
      throw err;
    }
  }

  /**
   * Extends a lease by the TTL from now; returns the new expiry (epoch ms). With a ledger the
   * renewal is also written to Postgres in the background (await `persisted()` to know it landed;
   * a failed write is kept in `lastLedgerError`, and the label's expiry still holds until then).
   */
  renew(leaseId: string): number {
    const lease = this.leases.get(leaseId);
    if (!lease) {
      throw new SandboxError(ErrorCodes.SANDBOX_GONE, `lease ${leaseId} is unknown to manager ${this.id} (released, reaped, or held by another process)`, { leaseId, managerId: this.id });
    }
    lease.expiresAt = Date.now() + lease.ttlSec * 1000;
    const ledger = this.opts.ledger;
    if (ledger) this.track(extendHeldLease(ledger.db, leaseId, new Date(lease.expiresAt)).then(() => undefined));
    return lease.expiresAt;
  }

  /** Waits for every ledger write started so far (renewals, releases). */
  async persisted(): Promise<void> {
    await Promise.allSettled([...this.ledgerWrites]);
  }

  private track(write: Promise<void>): void {
    const p = write
      .catch((err: unknown) => {
        this.lastLedgerError = err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => this.ledgerWrites.delete(p));
    this.ledgerWrites.add(p);
  }

  /** Destroys the lease's container and frees its slot. Releasing an unknown lease is a no-op. */
  async release(leaseId: string): Promise<void> {
    const lease = this.leases.get(leaseId);
    if (!lease) return;
    this.leases.delete(leaseId);
    this.freeSlot();
    if (this.opts.ledger) this.track(releaseLease(this.opts.ledger.db, leaseId));
    await lease.sandbox.destroy();
  }

  /** What this manager knows of a lease, for the reaper. */
  verdict(leaseId: string, now: number): LeaseVerdict {
    if (this.pending.has(leaseId)) return 'active';
    for (const pool of this.pools.values()) if (pool.ready.some((p) => p.leaseId === leaseId)) return 'active';
    const lease = this.leases.get(leaseId);
    if (!lease) return 'unknown';
    return lease.expiresAt < now ? 'expired' : 'active';
  }

  /** The reaper removed this lease's container: forget it and free the slot. */
  forget(leaseId: string): void {
    if (this.leases.delete(leaseId)) this.freeSlot();
  }

  stats(): { leased: number; pooled: number; waiting: number; maxConcurrent: number } {
    let pooled = 0;
    for (const pool of this.pools.values()) pooled += pool.ready.length;
    return { leased: this.leases.size, pooled, waiting: this.waiters.length, maxConcurrent: this.opts.maxConcurrent };
  }

  /** Fills the pool for (image, limits) up to `prewarm` and resolves when it is full. */
  async prewarm(spec: Omit<AcquireSpec, 'labels'>): Promise<void> {
    const pool = this.poolFor({ ...spec, labels: { run: '', episode: '' } });
    if (this.draining) return;
    const missing = this.opts.prewarm - pool.ready.length - pool.filling.size;
    for (let i = 0; i < missing && this.makeRoom(pool); i++) this.addToPool(pool);
    await Promise.all(pool.filling);
  }

  private poolFor(spec: AcquireSpec): Pool {
    const key = poolKey(spec);
    let pool = this.pools.get(key);
    if (!pool) {
      pool = { spec: { image: spec.image, limits: spec.limits, labels: { run: '', episode: '' } }, ready: [], filling: new Set(), lastUsedAt: 0 };
      this.pools.set(key, pool);
    }
    pool.lastUsedAt = Date.now();
    return pool;
  }

  /**
   * Room for one more container in `pool` under `poolMax`, made by removing the oldest idle
   * container of the least recently used other pool. False when the bound is taken by containers
   * still starting or by this pool itself.
   */
  private makeRoom(pool: Pool): boolean {
    const max = this.opts.poolMax ?? this.opts.maxConcurrent;
    let total = 0;
    for (const p of this.pools.values()) total += p.ready.length + p.filling.size;
    for (; total >= max; total--) {
      let victim: Pool | undefined;
      for (const p of this.pools.values()) if (p !== pool && p.ready.length > 0 && (!victim || p.lastUsedAt < victim.lastUsedAt)) victim = p;
      const entry = victim?.ready.shift();
      if (!entry) return false;
      this.poolEvictions++;
      this.track(
        entry.sandbox
          .destroy()
          .catch(() => undefined)
          .then(() => this.releaseRow(entry.leaseId)),
      );
    }
    return true;
  }

  private async takeFromPool(spec: AcquireSpec): Promise<PooledSandbox | undefined> {
    const pool = this.pools.get(poolKey(spec));
    if (pool) pool.lastUsedAt = Date.now();
    const maxIdleMs = (this.opts.poolMaxIdleSec ?? 600) * 1000;
    for (let entry = pool?.ready.shift(); entry; entry = pool?.ready.shift()) {
      // Guarded by `pending` so a reaper running now does not see an unknown lease.
      this.pending.add(entry.leaseId);
      if (Date.now() - entry.createdAt <= maxIdleMs && (await this.isRunning(entry.sandbox))) return entry;
      this.pending.delete(entry.leaseId);
      await entry.sandbox.destroy().catch(() => undefined);
      this.releaseRow(entry.leaseId);
    }
    return undefined;
  }

  /** A pooled container can die while idle (daemon restart, a reaper elsewhere): never hand out a corpse. */
  private async isRunning(sandbox: Sandbox): Promise<boolean> {
    try {
      const info = await this.docker.getContainer(sandbox.containerId).inspect();
      return info.State.Running && !info.State.Paused;
    } catch {
      return false;
    }
  }

  /** Starts one pooled container; the promise is tracked in `pool.filling` until it settles. */
  private addToPool(pool: Pool): Promise<void> {
    const p = this.startPooled(pool).finally(() => pool.filling.delete(p));
    pool.filling.add(p);
    return p;
  }

  private async startPooled(pool: Pool): Promise<void> {
    const leaseId = randomUUID();
    const ledger = this.opts.ledger;
    this.pending.add(leaseId);
    let pooled = false;
    try {
      // The row first, with no run or episode: this manager extends it while the container is pooled.
      if (ledger) await recordPendingLease(ledger.db, { id: leaseId, host: ledger.host, image: pool.spec.image, expiresAt: this.pendingExpiry() });
      // The label expiry covers the longest idle time plus a full lease, so a reaper that only
      // sees labels never removes a container that was handed out late from the pool.
      const ttl = this.opts.leaseTtlSec + (this.opts.poolMaxIdleSec ?? 600);
      const sandbox = await createSandbox(this.docker, { ...pool.spec, leaseTtlSec: ttl }, { leaseId, managerId: this.id });
      // One exec before pooling: proves the container works and pays the first exec's extra cost
      // (cold caches in a fresh container) ahead of the episode.
      await sandbox.exec('true').catch(async (err: unknown) => {
        await sandbox.destroy().catch(() => undefined);
        throw err;
      });
      if (this.closed || this.draining) {
        await sandbox.destroy();
        return;
      }
      pool.ready.push({ leaseId, sandbox, createdAt: Date.now() });
      pooled = true;
    } finally {
      this.pending.delete(leaseId);
      if (!pooled) this.releaseRow(leaseId);
    }
  }

  /** Background refill after a hand-out; errors are kept, never thrown into nobody's hands. */
  private fillPool(spec: AcquireSpec): void {
    if (this.opts.prewarm <= 0 || this.closed || this.draining) return;
    const pool = this.poolFor(spec);
    const missing = this.opts.prewarm - pool.ready.length - pool.filling.size;
    for (let i = 0; i < missing && this.makeRoom(pool); i++) {
      this.addToPool(pool).catch((err: Error) => {
        this.lastPoolError = err;
      });
    }
  }

  /**
   * For a host that is shutting down: nothing goes into the pool any more, its pre-warmed
   * containers are removed now, and so are containers labelled with this manager that it neither
   * leases nor is creating (strays, e.g. a hand-over that failed half-way). Leases stay: an
   * activity still in flight while the worker drains may finish on its sandbox; `close()` ends them.
   * Without this a stopped host's pool waits for another host's reaper, one label TTL (~70 min).
   */
  async drainPool(): Promise<{ pooled: number; strays: number }> {
    this.draining = true;
    // Containers still starting destroy themselves when they see `draining`.
    await Promise.allSettled([...this.pools.values()].flatMap((pool) => [...pool.filling]));
    const pooled: PooledSandbox[] = [];
    for (const pool of this.pools.values()) pooled.push(...pool.ready.splice(0));
    await Promise.all(pooled.map((p) => p.sandbox.destroy().catch(() => undefined)));
    for (const p of pooled) this.releaseRow(p.leaseId);
    const held = new Set([...this.leases.keys(), ...this.pending]);
    const labelled = await this.docker.listContainers({ all: true, filters: { label: [`${Labels.manager}=${this.id}`] } });
    const strays = labelled.filter((c) => !held.has(c.Labels?.[Labels.leaseId] ?? ''));
    for (const leaseId of new Set(strays.map((c) => c.Labels?.[Labels.leaseId] ?? ''))) if (leaseId) this.releaseRow(leaseId);
    await Promise.all(
      strays.map((c) =>
        this.docker
          .getContainer(c.Id)
          .remove({ force: true, v: true })
          .catch((err: unknown) => {
            const code = statusCodeOf(err);
            if (code !== 404 && code !== 409) throw err; // gone already, or being removed
          }),
      ),
    );
    return { pooled: pooled.length, strays: strays.length };
  }

  /** Destroys pooled containers and (unless told otherwise) leased ones; the manager is unusable after. */
  async close(opts: { releaseLeases?: boolean } = {}): Promise<void> {
    this.closed = true;
    clearInterval(this.keepAlive);
    // Waiters for a slot wake to find the manager closed (and pass the slot on to the next one).
    for (const wake of this.waiters.splice(0)) wake();
    // Containers still starting destroy themselves when they see `closed`; wait for that, or a
    // process that exits right after close() leaves them behind.
    await Promise.allSettled([...this.pools.values()].flatMap((pool) => [...pool.filling]));
    // An acquisition in flight sees `closed` before it hands out its sandbox, and removes it.
    await Promise.allSettled([...this.acquiring]);
    liveManagers.delete(this.id);
    const doomed: Sandbox[] = [];
    for (const pool of this.pools.values()) {
      for (const p of pool.ready.splice(0)) {
        doomed.push(p.sandbox);
        this.releaseRow(p.leaseId);
      }
    }
    if (opts.releaseLeases ?? true) {
      for (const [leaseId, lease] of this.leases) {
        doomed.push(lease.sandbox);
        this.releaseRow(leaseId);
      }
      this.leases.clear();
    }
    await Promise.all(doomed.map((s) => s.destroy().catch(() => undefined)));
    await this.persisted();
  }
}

/**
 * For a reaper in any process: the stored expiry (epoch ms) of each active lease among `leaseIds`
 * (a lease renewed by its holder, wherever that holder runs).
 */
export function storedLeaseExpiries(db: Db, leaseIds: readonly string[]): Promise<Map<string, number>> {
  return activeLeaseExpiries(db, leaseIds);
}
