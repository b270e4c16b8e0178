/**
 * Real SWE-bench instances end to end: for each line of the task file, the repository comes through
 * the same mirror as `swerl tasks import --repos` (sandbox/repoSources.ts: base commit, its nearest
 * tag, environment_setup_commit), the environment image is built from the official spec (or
 * reused), then the gold patch must score 1 and an empty patch 0 under the official eval script
 * and verdict (computeSwebenchReward: the grading path of import validation and of episodes).
 * Prints a line per instance as it finishes and a closing table with the time of each step; when
 * SWERL_REAL_REPORT names a file, the measurements are written there as JSON.
 *
 * Data is not in the repository (fetched code and rows are never committed). SWERL_REAL_TASKS
 * names either a directory holding `tasks.jsonl` (or `all.jsonl`) and `repos/`, or a `.jsonl`
 * file with `repos/` beside it; `repos/` holds one git directory per repository as
 * `owner__name` (any layout `tasks import --repos` accepts). Without it (or ../shared/swebench-real)
 * the file is skipped with a message. SWERL_REAL_ONLY=id,id runs a subset.
 * Run it with `SWERL_REAL_TASKS=/path npm run test:real`.
 */
import Docker from 'dockerode';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SandboxLimits } from '../../activities/sandbox';
import { computeSwebenchReward, type SwebenchRewardResult } from '../../activities/reward/swebench';
import { swerlHome } from '../../sandbox/images';
import { RepoMirrors } from '../../sandbox/repoSources';
import { ensureSwebenchEnvironment, type SwebenchTaskLine, type TaskEnvironment } from '../../sandbox/swebenchEnv';

/** The task file and the repos directory named by SWERL_REAL_TASKS (or the shared default), if present. */
function realData(): { file: string; repos: string } | undefined {
  const given = process.env.SWERL_REAL_TASKS;
  for (const candidate of [given, resolve(__dirname, '../../../shared/swebench-real')]) {
    if (!candidate || !existsSync(candidate)) continue;
    if (statSync(candidate).isFile()) return { file: candidate, repos: join(dirname(candidate), 'repos') };
    const file = ['tasks.jsonl', 'all.jsonl'].map((f) => join(candidate, f)).find((f) => existsSync(f));
    if (file) return { file, repos: join(candidate, 'repos') };
  }
  return undefined;
}
const data = realData();
const lines: (SwebenchTaskLine & { patch: string })[] = data
  ? readFileSync(data.file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as SwebenchTaskLine & { patch: string })
  : [];
const only = process.env.SWERL_REAL_ONLY?.split(',').filter(Boolean);
const selected = only ? lines.filter((l) => only.includes(l.instance_id)) : lines;
const limits: SandboxLimits = { cpus: 1, memoryMiB: 2048, pidsLimit: 512, outputLimitBytes: 256 * 1024, commandTimeoutSec: 1800, user: '1000:1000' };
const docker = new Docker();

interface Row {
  instanceId: string;
  repo: string;
  env?: { image: string; suite?: string; python?: string; pythonSubstitutedFor?: string; wheels?: TaskEnvironment['provenance']['wheels']; work: TaskEnvironment['work']; seconds: number };
  gold?: { reward: number; reason: string; seconds: number; failing: string[] };
  empty?: { reward: number; reason: string; seconds: number };
  error?: string;
}
const rows: Row[] = [];

if (!data) {
  console.log(`[realSwebench] skipped: SWERL_REAL_TASKS is ${process.env.SWERL_REAL_TASKS ? `${process.env.SWERL_REAL_TASKS}, which holds no tasks.jsonl/all.jsonl` : 'unset'} (nor is there ../shared/swebench-real); see README "Real SWE-bench tasks"`);
}
const mirrors = data ? new RepoMirrors({ sources: [{ kind: 'dir', dir: data.repos }], cacheDir: join(swerlHome(), 'cache', 'repos') }) : undefined;
const suiteStarted = Date.now();

function tableRow(r: Row): string {
  const py = r.env ? `${r.env.python ?? 'prebuilt'}${r.env.pythonSubstitutedFor ? ` (for ${r.env.pythonSubstitutedFor})` : ''}` : '-';
  return `${r.instanceId} | ${r.env?.seconds ?? '-'} | ${r.gold?.reward ?? '-'} | ${r.gold?.seconds ?? '-'} | ${r.empty?.reward ?? '-'} | ${r.empty?.seconds ?? '-'} | ${py} | ${r.error ?? r.gold?.failing.slice(0, 3).join(' ') ?? ''}`;
}

/** Each instance's row is printed and the report rewritten as soon as it is done: a long run stopped early keeps what it measured. */
function recordRow(r: Row): void {
  console.log(`[realSwebench] ${tableRow(r)}`);
  if (process.env.SWERL_REAL_REPORT) writeFileSync(process.env.SWERL_REAL_REPORT, `${JSON.stringify(rows, null, 2)}\n`);
}

const notPassed = (r: SwebenchRewardResult): string[] => r.tests.filter((t) => t.outcome !== 'passed').map((t) => `${t.list}:${t.nodeid}=${t.outcome}`);

describe.skipIf(!data)('real SWE-bench instances (gold 1, empty 0, official verdict)', () => {
  afterAll(() => {
    console.log('\ninstance | env s | gold | gold s | empty | empty s | python | note');
    for (const r of rows) console.log(tableRow(r));
    const ok = rows.filter((r) => r.gold?.reward === 1 && r.empty?.reward === 0).length;
    console.log(`gold 1 and empty 0 on ${ok} of ${rows.length}; ${Math.round((Date.now() - suiteStarted) / 1000)} s in all (${data?.file})`);
  });

  for (const line of selected) {
    it(`${line.instance_id}: environment builds, gold scores 1, empty patch 0`, { timeout: 3 * 3600_000 }, async () => {
      const row: Row = { instanceId: line.instance_id, repo: line.repo };
      rows.push(row);
      try {
        let t = Date.now();
        const { mirror } = await mirrors!.ensureCommit(line.repo, line.base_commit, line.instance_id);
        if (line.environment_setup_commit) await mirrors!.ensureCommit(line.repo, line.environment_setup_commit, line.instance_id);
        const env = await ensureSwebenchEnvironment(line, mirror, { docker, log: (l) => console.log(`[${line.instance_id}] ${l}`) });
        row.env = { image: env.image, suite: env.provenance.suite, python: env.provenance.python, pythonSubstitutedFor: env.provenance.pythonSubstitutedFor, wheels: env.provenance.wheels, work: env.work, seconds: Math.round((Date.now() - t) / 1000) };
        const opts = { image: env.image, layout: env.layout, limits, testTimeoutSec: 1800, labels: { run: 'test-real-swebench', episode: line.instance_id } };
        t = Date.now();
        const gold = await computeSwebenchReward(docker, line, line.patch, opts);
        row.gold = { reward: gold.reward, reason: gold.reason, seconds: Math.round((Date.now() - t) / 1000), failing: notPassed(gold) };
        t = Date.now();
        const empty = await computeSwebenchReward(docker, line, '', opts);
        row.empty = { reward: empty.reward, reason: empty.reason, seconds: Math.round((Date.now() - t) / 1000) };
        if (gold.reward !== 1) console.log(`[${line.instance_id}] gold log tail:\n${gold.outputTail.slice(-2500)}`);
      } catch (err) {
        row.error = (err as Error).message.split('\n').slice(0, 3).join(' ').slice(0, 400);
        throw err;
      } finally {
        recordRow(row);
      }
      expect(row.gold?.reward).toBe(1);
      expect(row.empty?.reward).toBe(0);
    });
  }
});
