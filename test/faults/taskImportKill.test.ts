/**
 * A `swerl tasks import` SIGKILLed mid-import loses no accepted task: each is persisted the moment
 * it is accepted, and the re-run skips it and validates only what was left.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Labels } from '../../activities/sandbox';
import { createDb, type DbHandle } from '../../db/client';
import { tasks as tasksTable } from '../../db/schema';
import { createTestDatabase, type TestDatabase } from '../harness/db';

const REPO_ROOT = resolve(__dirname, '../..');
const SUITE = resolve(REPO_ROOT, 'tasks/toy/tasks.jsonl');
const IDS = ['killed__strutils-a', 'killed__strutils-b'];
const docker = new Docker();

let testDb: TestDatabase;
let handle: DbHandle;
let scratch: string;
let file: string;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the import; with `killAfter`, SIGKILLs it as soon as a stderr line matches. */
function importRun(killAfter?: RegExp): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'cli/main.ts'), 'tasks', 'import', file, '--jobs', '1'],
      { cwd: REPO_ROOT, env: { ...process.env, SWERL_DATABASE_URL: testDb.url }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const guard = setTimeout(() => child.kill('SIGKILL'), 540_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (killAfter?.test(stderr)) child.kill('SIGKILL');
    });
    child.on('error', (err) => {
      clearTimeout(guard);
      fail(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      done({ code, signal, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  testDb = await createTestDatabase('task_import_kill');
  handle = createDb(testDb.url);
  scratch = mkdtempSync(join(tmpdir(), 'swerl-import-kill-'));
  const base = readFileSync(SUITE, 'utf8').split('\n').map((l) => (l ? (JSON.parse(l) as Record<string, unknown>) : undefined))
    .find((t) => t?.instance_id === 'toy__strutils-1')!;
  // Two valid tasks on one repository and commit: one image, two validations.
  file = join(scratch, 'killed.jsonl');
  writeFileSync(file, IDS.map((id) => JSON.stringify({ ...base, instance_id: id, repo_path: resolve(SUITE, '..', base.repo_path as string) })).join('\n'));
});

afterAll(async () => {
  // The killed import may have left the second task's validation container behind.
  const left = await docker.listContainers({ all: true, filters: { label: [`${Labels.run}=task-import`] } }).catch(() => []);
  for (const c of left.filter((c) => IDS.includes(c.Labels?.[Labels.episode] ?? ''))) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  }
  await handle?.close();
  await testDb?.drop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('a killed import', () => {
  it('keeps the task accepted before the kill, and the re-run skips it and imports the rest', async () => {
    const killed = await importRun(/accepted +killed__strutils-a/);
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    // The first task was stored before its progress line was printed. (The second normally was
    // not started yet; under extreme load it may have finished before the kill landed.)
    const afterKill = await handle.db.select().from(tasksTable);
    expect(afterKill.map((t) => t.id)).toContain('killed__strutils-a');
    expect(afterKill.find((t) => t.id === 'killed__strutils-a')!.image).toMatch(/^swerl-task:/);
    const left = IDS.length - afterKill.length;

    const rerun = await importRun();
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toMatch(/skipped +killed__strutils-a \(already imported with the same content\)/);
    expect(rerun.stdout).toMatch(new RegExp(`^imported +${left} \\(${left} new\\)$`, 'm'));
    expect(rerun.stdout).toMatch(new RegExp(`^skipped +${afterKill.length} `, 'm'));
    const rows = await handle.db.select().from(tasksTable).where(eq(tasksTable.suite, 'killed'));
    expect(rows.map((t) => t.id).sort()).toEqual(IDS);
  }, 900_000);
});
