/**
 * Real SWE-bench instances end to end: for each line of tasks.jsonl, the environment image is
 * built from the official spec (or reused), then the gold patch must score 1 and an empty patch 0
 * under the official eval script and verdict. Prints a table with the time of each step and,
 * when SWERL_REAL_REPORT names a file, writes the measurements there as JSON.
 *
 * Data is not in the repository (fetched code and rows are never committed): the test runs when
 * $SWERL_REAL_TASKS or ../shared/swebench-real holds `tasks.jsonl` and `repos/<owner>__<name>`
 * (a git directory, bare or not, holding each base commit), and is skipped with a message
 * otherwise. Run it with `npm run test:real`.
 */
import Docker from 'dockerode';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SandboxLimits } from '../../activities/sandbox';
import { computeSwebenchReward, type SwebenchRewardResult } from '../../activities/reward/swebench';
import { ensureSwebenchEnvironment, type SwebenchTaskLine, type TaskEnvironment } from '../../sandbox/swebenchEnv';

const candidates = [process.env.SWERL_REAL_TASKS, resolve(__dirname, '../../../shared/swebench-real')].filter((d): d is string => !!d);
const dataDir = candidates.find((d) => existsSync(join(d, 'tasks.jsonl')));
const lines: (SwebenchTaskLine & { patch: string })[] = dataDir
  ? readFileSync(join(dataDir, 'tasks.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as SwebenchTaskLine & { patch: string })
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

if (!dataDir) {
  console.log(`[realSwebench] skipped: no tasks.jsonl in ${candidates.join(' or ') || '$SWERL_REAL_TASKS (unset)'}; see README "Real SWE-bench tasks"`);
}

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

describe.skipIf(!dataDir)('real SWE-bench instances (gold 1, empty 0, official verdict)', () => {
  afterAll(() => {
    console.log('\ninstance | env s | gold | gold s | empty | empty s | python | note');
    for (const r of rows) console.log(tableRow(r));
  });

  for (const line of selected) {
    it(`${line.instance_id}: environment builds, gold scores 1, empty patch 0`, { timeout: 3 * 3600_000 }, async () => {
      const row: Row = { instanceId: line.instance_id, repo: line.repo };
      rows.push(row);
      const repoDir = join(dataDir!, 'repos', line.repo.replace('/', '__'));
      try {
        let t = Date.now();
        const env = await ensureSwebenchEnvironment(line, repoDir, { docker, log: (l) => console.log(`[${line.instance_id}] ${l}`) });
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
