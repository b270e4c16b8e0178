/**
 * Reward run time per task: the gold patch scored in a clean container (apply diff, restore tests,
 * pytest with JUnit XML), one task at a time, on the toy suite's images (built first, not timed).
 */
import path from 'node:path';
import Docker from 'dockerode';
import { loadRunConfig } from '../config/load';
import { computeReward } from '../activities/reward';
import { importTasks } from '../activities/tasks';
import { ensureTaskImage } from '../sandbox/images';
import { percentile, round1 } from './stats';

const SUITE = path.join(__dirname, '..', 'tasks', 'toy', 'tasks.jsonl');

export async function benchReward(opts: { tasks?: number } = {}): Promise<Record<string, number>> {
  const docker = new Docker();
  const { sandbox } = loadRunConfig('toy');
  const tasks = (await importTasks(SUITE, { validate: false })).accepted.slice(0, opts.tasks ?? 10);
  const images = new Map<string, string>();
  for (const t of tasks) images.set(t.instanceId, await ensureTaskImage({ instanceId: t.instanceId, repoDir: t.repoDir, baseCommit: t.baseCommit }, { docker }));
  const times: number[] = [];
  let resolved = 0;
  for (const t of tasks) {
    const start = performance.now();
    const r = await computeReward(docker, t, t.goldPatch, { image: images.get(t.instanceId)!, limits: sandbox, labels: { run: 'bench', episode: `reward-${t.instanceId}` } });
    times.push(performance.now() - start);
    resolved += r.reward;
  }
  return {
    reward_tasks: tasks.length,
    reward_gold_resolved: resolved,
    reward_per_task_p50_ms: round1(percentile(times, 50)),
    reward_per_task_p95_ms: round1(percentile(times, 95)),
    reward_per_task_max_ms: round1(Math.max(...times)),
  };
}
