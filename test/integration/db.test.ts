/**
 * The database layer against a real Postgres (SWERL_DATABASE_URL): concurrent migrators are
 * serialized by the advisory lock, and every repository write a retried activity can repeat
 * lands exactly once.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbError, ErrorCodes, errorCodeOf } from '../../core/errors';
import { createDb, isTransientDbError, toDbError, type DbHandle } from '../../db/client';
import { checkpointLineage, registerCheckpoint } from '../../db/checkpoints';
import { completeEpisode, createEpisode, failEpisode, getEpisode } from '../../db/episodes';
import {
  DEFAULT_MIGRATIONS_FOLDER,
  MIGRATION_LOCK_KEY,
  MIGRATIONS_SCHEMA,
  MIGRATIONS_TABLE,
  dropDatabase,
  ensureDatabaseExists,
  migrateDatabase,
  type MigrationEvent,
} from '../../db/migrate';
import { getRun, upsertRun } from '../../db/runs';
import { getTaskStats, recordEpisodeOutcome } from '../../db/taskStats';
import { beginTrainerStep, markTrainerStepApplied } from '../../db/trainerSteps';
import { quarantineTask, upsertTask } from '../../db/tasks';
import { getRewardResult, recordRewardResult } from '../../db/rewards';
import { acquireLease, expireLeases, releaseLease, renewLease } from '../../db/sandboxLeases';
import { recordPromotion } from '../../db/promotions';
import { createCurriculumSnapshot, getCurriculumSnapshot, latestCurriculumSnapshot } from '../../db/curriculum';
import { appendTurn, listTurns } from '../../db/turns';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../harness/db';

const journal = JSON.parse(readFileSync(join(DEFAULT_MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as {
  entries: { tag: string; when: number }[];
};
const MIGRATION_COUNT = journal.entries.length;

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function appliedMigrations(url: string): Promise<{ hash: string; created_at: string }[]> {
  return withClient(url, async (c) => {
    const exists = await c.query<{ t: string | null }>('select to_regclass($1) as t', [`"${MIGRATIONS_SCHEMA}"."${MIGRATIONS_TABLE}"`]);
    if (!exists.rows[0]?.t) return [];
    return (await c.query(`select hash, created_at from "${MIGRATIONS_SCHEMA}"."${MIGRATIONS_TABLE}" order by id`)).rows;
  });
}

function expectCode(err: unknown, code: string): void {
  expect(errorCodeOf(err), String(err)).toBe(code);
}

describe('migrateDatabase', () => {
  const created: string[] = [];
  afterAll(async () => {
    for (const url of created) await dropDatabase(url);
  });

  it('serializes four concurrent migrators on a fresh database: each migration applied once, no overlap', async () => {
    const url = testDatabaseUrl('migrate_race');
    created.push(url);
    const events: { caller: number; event: MigrationEvent }[] = [];
    const results = await Promise.allSettled(
      [0, 1, 2, 3].map((caller) => migrateDatabase(url, { onEvent: (event) => events.push({ caller, event }) })),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);

    // The database was created by exactly one caller; the others tolerated the race.
    expect(events.filter((e) => e.event.type === 'database-created')).toHaveLength(1);

    const applied = await appliedMigrations(url);
    expect(applied).toHaveLength(MIGRATION_COUNT);
    expect(new Set(applied.map((m) => m.hash)).size).toBe(MIGRATION_COUNT);
    expect(applied.map((m) => Number(m.created_at))).toEqual(journal.entries.map((e) => e.when));

    // Critical sections (lock acquired .. migrations done) never overlap: the event log alternates
    // acquired(i), migrated(i), acquired(j), migrated(j)... for all four callers.
    const critical = events.filter((e) => e.event.type === 'lock-acquired' || e.event.type === 'migrated');
    expect(critical).toHaveLength(8);
    for (let i = 0; i < critical.length; i += 2) {
      expect(critical[i]?.event.type).toBe('lock-acquired');
      expect(critical[i + 1]?.event.type).toBe('migrated');
      expect(critical[i + 1]?.caller).toBe(critical[i]?.caller);
    }
    // Only the first holder of the lock had work to do; the rest found everything applied.
    const appliedPerCaller = events.flatMap((e) => (e.event.type === 'migrated' ? [e.event.applied] : []));
    expect(appliedPerCaller).toEqual([MIGRATION_COUNT, 0, 0, 0]);
    expect(events.filter((e) => e.event.type === 'lock-released')).toHaveLength(4);
  });

  it('waits while another session holds the migration lock and migrates nothing until it is released', async () => {
    const url = testDatabaseUrl('migrate_wait');
    created.push(url);
    await ensureDatabaseExists(url);
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      const events: MigrationEvent['type'][] = [];
      let settled = false;
      const migrating = migrateDatabase(url, { onEvent: (e) => events.push(e.type) }).finally(() => {
        settled = true;
      });
      await expect.poll(() => events, { timeout: 10_000 }).toContain('lock-waiting');
      await new Promise((r) => setTimeout(r, 500));

      expect(settled).toBe(false);
      expect(events).toEqual(['lock-waiting']);
      const waiting = await holder.query<{ n: number }>(
        `select count(*)::int as n from pg_locks l join pg_database d on d.oid = l.database
          where l.locktype = 'advisory' and not l.granted and d.datname = current_database()`,
      );
      expect(waiting.rows[0]?.n).toBe(1);
      expect(await appliedMigrations(url)).toHaveLength(0);

      await holder.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      await migrating;
      expect(events).toEqual(['lock-waiting', 'lock-acquired', 'migrated', 'lock-released']);
      expect(await appliedMigrations(url)).toHaveLength(MIGRATION_COUNT);
    } finally {
      await holder.end();
    }
  });

  it('reports a failing migration as SWERL_DB_MIGRATION_FAILED, rolls it back and releases the lock', async () => {
    const url = testDatabaseUrl('migrate_broken');
    created.push(url);
    const folder = await mkdtemp(join(tmpdir(), 'swerl-broken-migrations-'));
    try {
      await mkdir(join(folder, 'meta'));
      await writeFile(
        join(folder, 'meta', '_journal.json'),
        JSON.stringify({ version: '7', dialect: 'postgresql', entries: [{ idx: 0, version: '7', when: 1, tag: '0000_broken', breakpoints: true }] }),
      );
      await writeFile(join(folder, '0000_broken.sql'), 'CREATE TABLE "half_done" ("id" integer);\n--> statement-breakpoint\nSELECT 1/0;');
      const err = await migrateDatabase(url, { migrationsFolder: folder }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DbError);
      expectCode(err, ErrorCodes.DB_MIGRATION_FAILED);
      expect((err as DbError).retryable).toBe(false);
      expect((err as Error).message).toContain('division by zero');
      expect((err as Error).message).toContain(new URL(url).pathname.slice(1));

      const halfDone = await withClient(url, (c) => c.query<{ t: string | null }>(`select to_regclass('half_done') as t`));
      expect(halfDone.rows[0]?.t).toBeNull();
      // The lock was released in `finally`: a real migration now gets it without waiting.
      const events: MigrationEvent['type'][] = [];
      await migrateDatabase(url, { lockTimeoutMs: 2_000, onEvent: (e) => events.push(e.type) });
      expect(events).not.toContain('lock-waiting');
      expect(await appliedMigrations(url)).toHaveLength(MIGRATION_COUNT);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('reports an unreachable server as retryable SWERL_DB_UNAVAILABLE naming the server, password masked', async () => {
    const err = await migrateDatabase('postgres://swerl:hunter2@127.0.0.1:1/nowhere').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DbError);
    expectCode(err, ErrorCodes.DB_UNAVAILABLE);
    expect((err as DbError).retryable).toBe(true);
    expect((err as Error).message).toContain('127.0.0.1:1');
    expect((err as Error).message).not.toContain('hunter2');
  });
});

describe('repositories', () => {
  let testDb: TestDatabase;
  let handle: DbHandle;
  const run = { id: 'run-1', workflowId: 'wf-run-1', name: 'toy', config: { seed: 0 } };
  const task = {
    id: 'toy__calc-1',
    suite: 'toy',
    repo: 'toy/calc',
    baseCommit: 'abc123',
    problemStatement: 'add() returns the difference',
    goldPatch: 'diff --git a/calc.py b/calc.py',
    testPatch: 'diff --git a/test_calc.py b/test_calc.py',
    failToPass: ['test_calc.py::test_add'],
    passToPass: ['test_calc.py::test_sub'],
    contentHash: 'h1',
  };
  const episodeBase = {
    runId: run.id,
    stage: 'rl-1',
    iteration: 3,
    taskId: task.id,
    policyVersion: 'ckpt-base',
    decoding: { temperature: 1 },
    maxTurns: 40,
    contextTokens: 65536,
  };

  beforeAll(async () => {
    testDb = await createTestDatabase('db_repositories');
    handle = createDb(testDb.url);
    await upsertRun(handle.db, run);
    await upsertTask(handle.db, task);
  });
  afterAll(async () => {
    await handle?.close();
    await testDb?.drop();
  });

  it('upsertRun creates once, returns the stored run on retry, refuses another workflow for the id', async () => {
    const again = await upsertRun(handle.db, { ...run, config: { seed: 99 } });
    expect(again.inserted).toBe(false);
    expect(again.run.config).toEqual({ seed: 0 });
    const conflict = await upsertRun(handle.db, { ...run, workflowId: 'wf-other' }).catch((e: unknown) => e);
    expectCode(conflict, ErrorCodes.RUN_STATE_INVALID);
    expectCode(await getRun(handle.db, 'no-such-run').catch((e: unknown) => e), ErrorCodes.RUN_NOT_FOUND);
  });

  it('appendTurn stores turn (episode, idx) once; a retry gets the first turn back, counters move once', async () => {
    const { episode } = await createEpisode(handle.db, { ...episodeBase, id: 'ep-turns', sampleIdx: 0 });
    const turn = { episodeId: episode.id, idx: 1, role: 'assistant' as const, text: 'ls', completionTokens: 7, promptTokens: 100 };
    const first = await appendTurn(handle.db, turn);
    const retry = await appendTurn(handle.db, { ...turn, text: 'cat README', completionTokens: 9 });
    expect(first.inserted).toBe(true);
    expect(retry.inserted).toBe(false);
    expect(retry.turn.text).toBe('ls');

    // Concurrent retries of the next turn: one insert wins, every caller sees the winner's text.
    const racers = await Promise.all(
      [0, 1, 2, 3, 4].map((i) => appendTurn(handle.db, { episodeId: episode.id, idx: 2, role: 'assistant', text: `try ${i}`, completionTokens: 5, promptTokens: 130 })),
    );
    expect(racers.filter((r) => r.inserted)).toHaveLength(1);
    expect(new Set(racers.map((r) => r.turn.text)).size).toBe(1);

    const stored = await listTurns(handle.db, episode.id);
    expect(stored.map((t) => [t.idx, t.text])).toEqual([
      [1, 'ls'],
      [2, racers.find((r) => r.inserted)?.turn.text],
    ]);
    const after = await getEpisode(handle.db, episode.id);
    expect([after.turnCount, after.completionTokens, after.promptTokens]).toEqual([2, 7 + 5, 130]);

    // A policy that samples a NUL byte: stored (as U+FFFD) instead of failing every retry.
    const nul = await appendTurn(handle.db, { episodeId: episode.id, idx: 3, role: 'assistant', text: 'a\u0000b', command: 'echo \u0000', tokenIds: [97, 0, 98] });
    expect([nul.inserted, nul.turn.text, nul.turn.command, nul.turn.tokenIds]).toEqual([true, 'a\uFFFDb', 'echo \uFFFD', [97, 0, 98]]);

    // appendTurn is a prepared statement: every column round-trips, absent ones take their
    // defaults, and absent jsonb is SQL NULL (not a jsonb 'null').
    const full = { episodeId: episode.id, idx: 4, role: 'assistant' as const, text: 't', tokenIds: [1, 2], logprobs: [-0.5, -0.25], tokensRef: 'ref', promptTokens: 140, completionTokens: 2, formatError: true, tool: 'bash', command: 'true', exitCode: 3, outputTruncated: true, durationMs: 12 };
    const stored4 = await appendTurn(handle.db, full);
    expect(stored4.turn).toMatchObject(full);
    const tool = await appendTurn(handle.db, { episodeId: episode.id, idx: 5, role: 'tool', text: 'out' });
    expect([tool.turn.tokenIds, tool.turn.logprobs, tool.turn.formatError, tool.turn.outputTruncated, tool.turn.exitCode]).toEqual([null, null, false, false, null]);
    expect(tool.turn.createdAt).toBeInstanceOf(Date);
    const nulls = await handle.db.execute(sql`select idx, token_ids is null as t, logprobs is null as l from turns where episode_id = ${episode.id} and idx in (4, 5) order by idx`);
    expect(nulls.rows).toEqual([{ idx: 4, t: false, l: false }, { idx: 5, t: true, l: true }]);
    const counted = await getEpisode(handle.db, episode.id);
    expect([counted.turnCount, counted.completionTokens, counted.promptTokens]).toEqual([4, 7 + 5 + 2, 140]);
    // Each append moves the episode's updated_at (a prepared statement must not freeze it at the
    // time it was built).
    await new Promise((r) => setTimeout(r, 20));
    await appendTurn(handle.db, { episodeId: episode.id, idx: 6, role: 'assistant', text: 'later' });
    expect((await getEpisode(handle.db, episode.id)).updatedAt.getTime()).toBeGreaterThan(counted.updatedAt.getTime());
  });

  it('stores foreign text with NUL bytes and lone surrogates in task, quarantine and reward rows (as U+FFFD)', async () => {
    // Each of these writes fails in Postgres without db/text.ts: text rejects NUL (22021), jsonb
    // rejects \u0000 (22P05) and an unpaired surrogate escape.
    const dirty = 'tail\u0000\uD800end';
    const clean = 'tail\uFFFD\uFFFDend';
    const stored = await upsertTask(handle.db, { ...task, id: 'nul__task', problemStatement: dirty, failToPass: [dirty], contentHash: 'h-nul', metadata: { hints: dirty } });
    expect([stored.task.problemStatement, stored.task.failToPass, stored.task.metadata]).toEqual([clean, [clean], { hints: clean }]);
    const q = await quarantineTask(handle.db, { suite: 'nul', taskId: 'nul__q', code: ErrorCodes.TASK_GOLD_FAILS, message: dirty, details: { [dirty]: [dirty] } });
    expect([q.message, q.details]).toEqual([clean, { [clean]: [clean] }]);
    await createEpisode(handle.db, { ...episodeBase, id: 'ep-nul-reward', sampleIdx: 9 });
    await recordRewardResult(handle.db, { episodeId: 'ep-nul-reward', resolved: false, patchApplied: true, durationMs: 5, outputTail: dirty,
      tests: [{ name: dirty, list: 'FAIL_TO_PASS', outcome: 'failed' }] });
    const reward = await getRewardResult(handle.db, 'ep-nul-reward');
    expect([reward?.outputTail, reward?.tests[0]?.name]).toEqual([clean, clean]);
  });

  it('rejects updates of a persisted turn (append-only)', async () => {
    await createEpisode(handle.db, { ...episodeBase, id: 'ep-append-only', sampleIdx: 1 });
    await appendTurn(handle.db, { episodeId: 'ep-append-only', idx: 0, role: 'system', text: 'you are an agent' });
    const err = await handle.db.execute(sql`update turns set text = 'rewritten' where episode_id = 'ep-append-only'`).catch((e: unknown) => e);
    expect((err as { cause?: { code?: string } }).cause?.code).toBe('23001');
    expect((await listTurns(handle.db, 'ep-append-only'))[0]?.text).toBe('you are an agent');
  });

  it('createEpisode is idempotent by id and refuses a second id for the same slot', async () => {
    const first = await createEpisode(handle.db, { ...episodeBase, id: 'ep-slot', sampleIdx: 2 });
    const again = await createEpisode(handle.db, { ...episodeBase, id: 'ep-slot', sampleIdx: 2 });
    expect([first.inserted, again.inserted]).toEqual([true, false]);
    const other = await createEpisode(handle.db, { ...episodeBase, id: 'ep-slot-other', sampleIdx: 2 }).catch((e: unknown) => e);
    expectCode(other, ErrorCodes.EPISODE_STATE_INVALID);
  });

  it('counts each scored episode into task_stats exactly once, even when called twice or concurrently', async () => {
    const stage = 'rl-1';
    const solvedBy = [true, false, true];
    for (const [i, solved] of solvedBy.entries()) {
      await createEpisode(handle.db, { ...episodeBase, id: `ep-stat-${i}`, sampleIdx: 10 + i });
      const score = { reward: solved ? 1 : 0, lengthPenalty: 0, rewardFinal: solved ? 1 : 0 };
      await completeEpisode(handle.db, { episodeId: `ep-stat-${i}`, exitReason: 'submitted', patch: '', ...score });
    }
    const once = await recordEpisodeOutcome(handle.db, { episodeId: 'ep-stat-0', taskId: task.id, stage, solved: true });
    const twice = await recordEpisodeOutcome(handle.db, { episodeId: 'ep-stat-0', taskId: task.id, stage, solved: true });
    expect(once).toEqual({ counted: true, stat: { taskId: task.id, attempts: 1, solves: 1 } });
    expect(twice).toEqual({ counted: false, stat: { taskId: task.id, attempts: 1, solves: 1 } });

    // Episodes 1 and 2, each reported three times at once.
    const burst = await Promise.all(
      [1, 2, 1, 2, 1, 2].map((i) => recordEpisodeOutcome(handle.db, { episodeId: `ep-stat-${i}`, taskId: task.id, stage, solved: solvedBy[i] ?? false })),
    );
    expect(burst.filter((r) => r.counted)).toHaveLength(2);
    expect(await getTaskStats(handle.db, run.id, [stage])).toEqual([{ taskId: task.id, attempts: 3, solves: 2 }]);
  });

  it('never counts an infra-failed episode, and keeps the first score of a completed one', async () => {
    await createEpisode(handle.db, { ...episodeBase, id: 'ep-infra', sampleIdx: 20 });
    await failEpisode(handle.db, 'ep-infra', ErrorCodes.SANDBOX_GONE);
    const err = await recordEpisodeOutcome(handle.db, { episodeId: 'ep-infra', taskId: task.id, stage: 'rl-1', solved: false }).catch((e: unknown) => e);
    expectCode(err, ErrorCodes.EPISODE_STATE_INVALID);
    expectCode(await completeEpisode(handle.db, { episodeId: 'ep-infra', exitReason: 'submitted', patch: null, reward: 0, lengthPenalty: 0, rewardFinal: 0 }).catch((e: unknown) => e),
      ErrorCodes.EPISODE_STATE_INVALID);

    const rescored = await completeEpisode(handle.db, { episodeId: 'ep-stat-1', exitReason: 'submitted', patch: 'x', reward: 1, lengthPenalty: 0, rewardFinal: 1 });
    expect(rescored.reward).toBe(0);
    expect(await getTaskStats(handle.db, run.id, ['rl-1'])).toEqual([{ taskId: task.id, attempts: 3, solves: 2 }]);
  });

  it('trainer steps: a retry with the same batch resumes, another batch under the key conflicts', async () => {
    await registerCheckpoint(handle.db, { id: 'ckpt-base', kind: 'base', path: '/models/base' });
    const key = { runId: run.id, stage: 'rl-1', iteration: 3, step: 0 };
    const claim = await beginTrainerStep(handle.db, { ...key, kind: 'dapo', batchDigest: 'sha-a', inputCheckpointId: 'ckpt-base' });
    const retry = await beginTrainerStep(handle.db, { ...key, kind: 'dapo', batchDigest: 'sha-a', inputCheckpointId: 'ckpt-base' });
    expect([claim.status, retry.status]).toEqual(['started', 'started']);
    expectCode(
      await beginTrainerStep(handle.db, { ...key, kind: 'dapo', batchDigest: 'sha-b', inputCheckpointId: 'ckpt-base' }).catch((e: unknown) => e),
      ErrorCodes.TRAINER_STEP_CONFLICT,
    );
    await registerCheckpoint(handle.db, { id: 'ckpt-1', parentId: 'ckpt-base', runId: run.id, kind: 'rl', stage: 'rl-1', iteration: 3, path: '/ckpt/1' });
    await markTrainerStepApplied(handle.db, key, 'ckpt-1', { loss: 0.5 });
    const resumed = await beginTrainerStep(handle.db, { ...key, kind: 'dapo', batchDigest: 'sha-a', inputCheckpointId: 'ckpt-base' });
    expect([resumed.status, resumed.outputCheckpointId]).toEqual(['applied', 'ckpt-1']);
    expectCode(await markTrainerStepApplied(handle.db, key, 'ckpt-other').catch((e: unknown) => e), ErrorCodes.TRAINER_STEP_CONFLICT);

    await registerCheckpoint(handle.db, { id: 'ckpt-2', parentId: 'ckpt-1', runId: run.id, kind: 'rl', stage: 'rl-1', iteration: 4, path: '/ckpt/2' });
    expect((await checkpointLineage(handle.db, 'ckpt-2')).map((c) => c.id)).toEqual(['ckpt-2', 'ckpt-1', 'ckpt-base']);
    expectCode(await registerCheckpoint(handle.db, { id: 'ckpt-2', kind: 'rl', path: '/elsewhere' }).catch((e: unknown) => e), ErrorCodes.TRAINER_STEP_CONFLICT);
  });

  it('caps active sandbox leases per host under concurrent acquisition; retries and releases free no extra slots', async () => {
    const host = 'docker-host-a';
    const request = (i: number) => ({ id: `lease-${i}`, host, image: 'swerl/toy:1', runId: run.id, ttlSec: 3600 });
    const attempts = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((i) => acquireLease(handle.db, request(i), 3)));
    const won = attempts.flatMap((a, i) => (a.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(3);
    for (const a of attempts) if (a.status === 'rejected') expectCode(a.reason, ErrorCodes.LEASE_UNAVAILABLE);

    const retry = await acquireLease(handle.db, request(won[0] ?? -1), 3);
    expect(retry.acquired).toBe(false);
    await releaseLease(handle.db, `lease-${won[0]}`);
    await releaseLease(handle.db, `lease-${won[0]}`);
    expect((await acquireLease(handle.db, request(100), 3)).acquired).toBe(true);
    expectCode(await acquireLease(handle.db, request(101), 3).catch((e: unknown) => e), ErrorCodes.LEASE_UNAVAILABLE);

    // A lease nobody renews stops holding its slot and is handed to the reaper once.
    const stale = await acquireLease(handle.db, { ...request(200), host: 'docker-host-b', ttlSec: 0 }, 1);
    expect(stale.acquired).toBe(true);
    expect((await acquireLease(handle.db, { ...request(201), host: 'docker-host-b' }, 2)).acquired).toBe(true);
    expectCode(await renewLease(handle.db, 'lease-200', 60).catch((e: unknown) => e), ErrorCodes.SANDBOX_GONE);
    expect((await expireLeases(handle.db, 'docker-host-b')).map((l) => l.id)).toEqual(['lease-200']);
    expect(await expireLeases(handle.db, 'docker-host-b')).toEqual([]);
  });

  it('curriculum snapshots are immutable and promotions happen once per stage boundary', async () => {
    const snapshot = { id: 'cur-rl-2-v1', runId: run.id, stage: 'rl-2', version: 1, rule: 'drop-easy-and-unsolved', taskIds: ['t1', 't2'] };
    expect((await createCurriculumSnapshot(handle.db, snapshot)).inserted).toBe(true);
    expect((await createCurriculumSnapshot(handle.db, snapshot)).inserted).toBe(false);
    expectCode(await createCurriculumSnapshot(handle.db, { ...snapshot, taskIds: ['t1'] }).catch((e: unknown) => e), ErrorCodes.RUN_STATE_INVALID);
    expect((await getCurriculumSnapshot(handle.db, 'cur-rl-2-v1')).taskCount).toBe(2);
    expect((await latestCurriculumSnapshot(handle.db, run.id, 'rl-2'))?.id).toBe('cur-rl-2-v1');
    expectCode(await getCurriculumSnapshot(handle.db, 'nope').catch((e: unknown) => e), ErrorCodes.CURRICULUM_SNAPSHOT_NOT_FOUND);

    const promotion = { id: 'update-1', runId: run.id, fromStage: 'rl-1', toStage: 'rl-2', checkpointId: 'ckpt-1', actor: 'alice', reason: 'pass@1 plateaued' };
    expect((await recordPromotion(handle.db, promotion)).inserted).toBe(true);
    expect((await recordPromotion(handle.db, promotion)).inserted).toBe(false);
    expectCode(await recordPromotion(handle.db, { ...promotion, id: 'update-2', actor: 'bob' }).catch((e: unknown) => e), ErrorCodes.PROMOTE_REJECTED);
  });

  it('classifies a server-side disconnect (57P01) and a refused connection as transient', async () => {
    const victim = createDb(testDb.url, { max: 1 });
    try {
      const pidRow = await victim.pool.query<{ pid: number }>('select pg_backend_pid() as pid');
      const pid = pidRow.rows[0]?.pid;
      const sleeping = victim.db.execute(sql`select pg_sleep(30)`).catch((e: unknown) => e);
      await expect
        .poll(async () => (await handle.pool.query(`select count(*)::int as n from pg_stat_activity where pid = $1 and state = 'active'`, [pid])).rows[0]?.n)
        .toBe(1);
      await handle.pool.query('select pg_terminate_backend($1)', [pid]);
      const err = await sleeping;
      expect((err as { cause?: { code?: string } }).cause?.code).toBe('57P01');
      expect(isTransientDbError(err)).toBe(true);
      expectCode(toDbError(err, 'sleeping'), ErrorCodes.DB_UNAVAILABLE);
    } finally {
      await victim.close();
    }

    const down = createDb('postgres://postgres@127.0.0.1:1/swerl', { connectTimeoutMs: 2_000 });
    try {
      const err = await down.db.execute(sql`select 1`).catch((e: unknown) => e);
      expect(isTransientDbError(err)).toBe(true);
      const wrapped = toDbError(err, 'reading runs', 'postgres://postgres@127.0.0.1:1/swerl');
      expectCode(wrapped, ErrorCodes.DB_UNAVAILABLE);
      expect((wrapped as Error).message).toContain('ECONNREFUSED');
    } finally {
      await down.close();
    }

    // A wrong statement is a bug, not an outage: it must not be retried as infra.
    const syntax = await handle.db.execute(sql`select from where`).catch((e: unknown) => e);
    expect(isTransientDbError(syntax)).toBe(false);
    expect(toDbError(syntax, 'x')).toBe(syntax);
  });
});
