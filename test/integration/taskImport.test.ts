/**
 * Task import on real Docker and Postgres: the whole toy suite validates, and a file of broken
 * tasks is quarantined line by line with the right codes while its good line is still accepted.
 */
import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importTasks, persistImport, suiteNameOf, type ImportResult } from '../../activities/tasks';
import { ErrorCodes } from '../../core/errors';
import { createDb, type DbHandle } from '../../db/client';
import { taskQuarantine, tasks as tasksTable } from '../../db/schema';
import { createTestDatabase, type TestDatabase } from '../harness/db';

const docker = new Docker();
const SUITE = resolve(__dirname, '../../tasks/toy/tasks.jsonl');
const toyLines = readFileSync(SUITE, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const toy = (name: string): Record<string, unknown> => {
  const t = toyLines.find((l) => l.instance_id === `toy__${name}`)!;
  return { ...t, repo_path: resolve(SUITE, '..', t.repo_path as string) };
};

let testDb: TestDatabase;
let handle: DbHandle;
let scratch: string;

beforeAll(async () => {
  testDb = await createTestDatabase('task_import');
  handle = createDb(testDb.url);
  scratch = mkdtempSync(join(tmpdir(), 'swerl-import-'));
});

afterAll(async () => {
  await handle?.close();
  await testDb?.drop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the toy suite', () => {
  let result: ImportResult;

  it('validates completely on Docker under the paper filters', async () => {
    const t0 = Date.now();
    result = await importTasks(SUITE, { validate: true, docker, maxFilesChanged: 7, maxChangedLines: 499, concurrency: 2 });
    console.log(`[import] validated ${result.accepted.length} toy tasks in ${Date.now() - t0} ms`);
    expect(result.quarantined).toEqual([]);
    expect(result.accepted).toHaveLength(toyLines.length);
    expect(result.accepted.every((t) => t.image?.startsWith('swerl-task:'))).toBe(true);
    const evalCount = result.accepted.filter((t) => t.split === 'eval').length;
    expect(evalCount).toBe(11);
    const multi = result.accepted.find((t) => t.instanceId === 'toy__shop-1')!;
    expect(multi.stats.filesChanged).toBe(3);
  }, 1_800_000);

  it('persists idempotently into tasks', async () => {
    const suite = suiteNameOf(SUITE);
    expect(suite).toBe('toy');
    expect(await persistImport(handle.db, suite, result)).toEqual({ inserted: toyLines.length, quarantined: 0 });
    expect(await persistImport(handle.db, suite, result)).toEqual({ inserted: 0, quarantined: 0 });
    const rows = await handle.db.select().from(tasksTable).where(eq(tasksTable.suite, 'toy'));
    expect(rows).toHaveLength(toyLines.length);
    const row = rows.find((r) => r.id === 'toy__calc-1')!;
    expect(row.failToPass).toHaveLength(3);
    expect(row.image).toMatch(/^swerl-task:/);
  });
});

describe('a file of broken tasks', () => {
  it('quarantines each bad line with its code and keeps the good one', async () => {
    const good = toy('strutils-1');
    const noApply = { ...toy('bank-1'), instance_id: 'bad__no-apply', patch: (toy('bank-1').patch as string).replace('if amount >= self.balance:', 'if amount >= self.balance_now:') };
    const alreadyPasses = { ...toy('stats-1'), instance_id: 'bad__f2p-passes', FAIL_TO_PASS: ['tests/test_central.py::test_mean'], PASS_TO_PASS: [] };
    const goldFails = { ...toy('units-1'), instance_id: 'bad__gold-fails', FAIL_TO_PASS: JSON.stringify(['tests/test_temperature.py::test_no_such_test']) };
    const tooBig = { ...toy('shop-1'), instance_id: 'bad__too-many-files' };
    const noRepo = { ...toy('romans-1'), instance_id: 'bad__no-repo', repo_path: 'repos/nowhere.tar.gz' };
    const lines = [
      JSON.stringify(good),
      '{"instance_id": "bad__truncated", "repo": ',
      JSON.stringify(noApply),
      JSON.stringify(alreadyPasses),
      '',
      JSON.stringify(goldFails),
      JSON.stringify(tooBig),
      JSON.stringify(noRepo),
      JSON.stringify({ ...good }),
      JSON.stringify({ ...good, instance_id: 'bad__no-tests', FAIL_TO_PASS: '[]' }),
      JSON.stringify({ ...toy('semver-1'), instance_id: 'bad__setup-fails', setup: 'echo cannot install >&2; exit 3' }),
    ];
    const file = join(scratch, 'broken.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);

    const result = await importTasks(file, { validate: true, docker, maxFilesChanged: 2, maxChangedLines: 499 });
    expect(result.accepted.map((t) => t.instanceId)).toEqual(['toy__strutils-1']);
    expect(result.quarantined.map((q) => [q.line, q.instanceId, q.code])).toEqual([
      [2, 'line:2', ErrorCodes.TASK_INVALID],
      [3, 'bad__no-apply', ErrorCodes.TASK_PATCH_DOES_NOT_APPLY],
      [4, 'bad__f2p-passes', ErrorCodes.TASK_FAIL_TO_PASS_PASSES],
      [6, 'bad__gold-fails', ErrorCodes.TASK_GOLD_FAILS],
      [7, 'bad__too-many-files', ErrorCodes.TASK_FILTERED],
      [8, 'bad__no-repo', ErrorCodes.TASK_NOT_FOUND],
      [9, 'toy__strutils-1', ErrorCodes.TASK_INVALID],
      [10, 'bad__no-tests', ErrorCodes.TASK_INVALID],
      [11, 'bad__setup-fails', ErrorCodes.TASK_INVALID],
    ]);
    const reasons = Object.fromEntries(result.quarantined.map((q) => [q.instanceId, q.reason]));
    expect(reasons['line:2']).toMatch(/line 2: not valid JSON/);
    expect(reasons['bad__f2p-passes']).toContain('tests/test_central.py::test_mean');
    expect(reasons['bad__gold-fails']).toContain('tests/test_temperature.py::test_no_such_test (missing)');
    expect(reasons['bad__too-many-files']).toContain('touches 3 files (max 2)');
    expect(reasons['toy__strutils-1']).toContain('duplicate');
    expect(reasons['bad__setup-fails']).toMatch(/setup script failed.*returned a non-zero code: 3/s);

    await persistImport(handle.db, 'broken', result);
    const rows = await handle.db.select().from(taskQuarantine).where(eq(taskQuarantine.suite, 'broken'));
    expect(rows.map((r) => [r.taskId, r.code]).sort()).toEqual(result.quarantined.map((q) => [q.instanceId, q.code]).sort());
  }, 600_000);

  it('quarantines a task with a flaky test when stabilityRuns is set (paper: no flaky tests)', async () => {
    const stable = toy('strutils-1');
    // The test_patch plus a test that fails on every second run in the same container.
    const repo = mkdtempSync(join(scratch, 'flaky-'));
    execFileSync('tar', ['-xzf', stable.repo_path as string, '-C', repo]);
    execFileSync('git', ['reset', '-q', '--hard', stable.base_commit as string], { cwd: repo });
    execFileSync('git', ['apply', '-'], { cwd: repo, input: stable.test_patch as string });
    appendFileSync(join(repo, 'tests/test_core.py'), '\n\ndef test_counter():\n    import os\n\n    path = "/tmp/swerl-counter"\n' +
      '    n = int(open(path).read()) if os.path.exists(path) else 0\n    with open(path, "w") as f:\n        f.write(str(n + 1))\n    assert n % 2 == 0\n');
    execFileSync('git', ['add', '-A'], { cwd: repo });
    const testPatch = execFileSync('git', ['diff', '--cached'], { cwd: repo, encoding: 'utf8' });
    const flaky = { ...stable, instance_id: 'bad__flaky', test_patch: testPatch, PASS_TO_PASS: [...(stable.PASS_TO_PASS as string[]), 'tests/test_core.py::test_counter'] };
    const file = join(scratch, 'flaky.jsonl');
    writeFileSync(file, `${JSON.stringify(stable)}\n${JSON.stringify(flaky)}\n`);

    const result = await importTasks(file, { validate: true, docker, stabilityRuns: 3 });
    expect(result.accepted.map((t) => t.instanceId)).toEqual(['toy__strutils-1']);
    expect(result.quarantined).toHaveLength(1);
    expect(result.quarantined[0]).toMatchObject({ instanceId: 'bad__flaky', code: ErrorCodes.TASK_FILTERED });
    expect(result.quarantined[0]!.reason).toContain('flaky tests under the gold patch: tests/test_core.py::test_counter (passed 2/3)');
  }, 600_000);

  it('imports without Docker when validation is off, and refuses a missing file', async () => {
    const result = await importTasks(SUITE, { validate: false, maxFilesChanged: 1 });
    const filtered = result.quarantined.map((q) => q.instanceId).sort();
    // The multi-file toy tasks are exactly the ones a one-file filter removes.
    expect(filtered).toEqual(['toy__durations-1', 'toy__geometry-1', 'toy__layout-1', 'toy__logfilter-1', 'toy__matrix-2', 'toy__shop-1', 'toy__warehouse-1']);
    expect(result.accepted).toHaveLength(toyLines.length - filtered.length);
    await expect(importTasks(join(scratch, 'nope.jsonl'), { validate: false })).rejects.toMatchObject({ code: ErrorCodes.TASK_NOT_FOUND });
  });
});
