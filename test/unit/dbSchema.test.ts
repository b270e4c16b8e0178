/**
 * Guards on the schema itself: every table has a key (the retry-safety rule of db/schema.ts),
 * and the committed migrations are exactly what drizzle-kit generates from schema.ts, so nobody
 * ships a schema change that the migrator would never apply.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { is } from 'drizzle-orm';
import { PgTable, getTableConfig } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import * as schema from '../../db/schema';
import { DEFAULT_MIGRATIONS_FOLDER } from '../../db/migrate';

const tables = Object.values(schema as Record<string, unknown>).filter((v): v is PgTable => is(v, PgTable));

describe('db schema', () => {
  it('declares the tables of DESIGN.md plus the ledgers', () => {
    expect(tables.map((t) => getTableConfig(t).name).sort()).toEqual([
      'checkpoints', 'curriculum_snapshots', 'episode_operations', 'episodes', 'evals', 'iteration_slots', 'iterations', 'promotions', 'reward_results', 'runs',
      'sandbox_leases', 'stages', 'task_quarantine', 'task_stat_events', 'task_stats', 'tasks', 'trainer_steps', 'turns', 'update_steps',
    ]);
  });

  it('gives every table a primary key', () => {
    const unkeyed = tables
      .map((t) => getTableConfig(t))
      .filter((c) => c.primaryKeys.length === 0 && !c.columns.some((col) => col.primary))
      .map((c) => c.name);
    expect(unkeyed).toEqual([]);
  });

  it('has committed migrations in sync with schema.ts', { timeout: 60_000 }, async () => {
    const root = join(DEFAULT_MIGRATIONS_FOLDER, '..', '..');
    const out = await mkdtemp(join(tmpdir(), 'swerl-migrations-'));
    try {
      await cp(DEFAULT_MIGRATIONS_FOLDER, out, { recursive: true });
      const before = (await readdir(out)).sort();
      // drizzle-kit resolves --out relative to cwd, so pass the temp dir relative to the repo root.
      const { stdout } = await promisify(execFile)(
        join(root, 'node_modules', '.bin', 'drizzle-kit'),
        ['generate', '--dialect', 'postgresql', '--schema', 'db/schema.ts', '--out', relative(root, out)],
        { cwd: root },
      );
      expect(stdout).toContain('No schema changes');
      expect((await readdir(out)).sort()).toEqual(before);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
