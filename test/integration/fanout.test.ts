/**
 * The sharded fan-out on the real stack (Temporal dev server, Postgres; sandboxes in-process, see
 * test/harness/inProcessRollout.ts — the orchestration is what is under test): a run of an RFT
 * stage (3 tasks × 2 = 6 episodes), one RL iteration of 12 draws × G = 2 = 24 episodes and an
 * eval (2 tasks × 2 = 4), with leaves of 5 episodes and branching 2, so the RL iteration's tree
 * has height 3. Asserts that every slot's episode ran and was counted exactly once, that the
 * stored aggregates equal what the per-episode rows give, and that every shard's real history
 * (fetched from Temporal) stays within the planner's estimate.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { and, asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRunConfig, type RunConfig } from '../../core/config';
import { iterationHistoryEvents, planFanout, shardHistoryEvents, type FanoutLimits, type ShardNode } from '../../core/fanout';
import { episodes, iterations, iterationSlots, taskStatEvents, taskStats } from '../../db/schema';
import { shardWorkflowId } from '../../workflows/episodeShard';
import { loopConfig, loopWorld, type LoopWorld } from './trainingLoopSetup';

let w: LoopWorld;

beforeAll(async () => {
  w = await loopWorld('fanout');
  await w.startWorker();
  await w.startInProcessRollout();
}, 120_000);
afterAll(async () => {
  await w?.close();
}, 120_000);

const LIMITS: FanoutLimits = { leafEpisodes: 5, branching: 2, maxHistoryEvents: 10_000 };

function fanoutConfig(): RunConfig {
  const base = loopConfig();
  const [rft, rl, , evalStage] = base.stages;
  return parseRunConfig({
    ...base,
    stages: [
      { ...rft },
      { ...rl, iterations: 1, problemsPerIteration: 12, groupSize: 2 },
      { ...evalStage },
    ],
    rollout: { shardEpisodes: LIMITS.leafEpisodes, shardBranching: LIMITS.branching },
  });
}

function nodes(n: ShardNode): ShardNode[] {
  return [n, ...n.children.flatMap(nodes)];
}

describe('sharded fan-out', () => {
  it('runs every slot once through a tree of height 3, aggregates exactly, and keeps each history within the estimate', { timeout: 600_000 }, async () => {
    const { runId, handle } = await w.startRun(fanoutConfig());
    const final = await handle.result();
    expect(final.phase).toBe('completed');
    expect(final.iterations?.map((r) => [r.stage, r.episodes])).toEqual([
      ['rft', 6],
      ['rl-stage1', 24],
    ]);
    expect(final.evals?.map((e) => [e.tasks, e.k])).toEqual([[2, 2]]);
    const db = w.db.db;

    for (const [stage, n, training] of [['rft', 6, true], ['rl-stage1', 24, true], ['eval', 4, false]] as const) {
      // Every planned slot has exactly one episode, finished, and its outcome recorded.
      const slots = await db.select().from(iterationSlots).where(and(eq(iterationSlots.runId, runId), eq(iterationSlots.stage, stage))).orderBy(asc(iterationSlots.slot));
      expect(slots.map((s) => s.slot)).toEqual(Array.from({ length: n }, (_, i) => i));
      const rows = await db.select().from(episodes).where(and(eq(episodes.runId, runId), eq(episodes.stage, stage)));
      expect(rows).toHaveLength(n);
      expect(new Set(rows.map((r) => r.id))).toEqual(new Set(slots.map((s) => s.episodeId)));
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const s of slots) {
        const e = byId.get(s.episodeId)!;
        expect(e.status).toBe('completed');
        expect([e.taskId, e.sampleIdx]).toEqual([s.taskId, s.sampleIdx]);
        expect(s.outcome).toEqual({ status: 'completed', reward: e.reward, scored: true });
      }
      const solved = rows.filter((r) => (r.reward ?? 0) >= 1).length;

      // task_stats: each training episode counted once (one event row per episode), evals never.
      const events = await db.select({ id: taskStatEvents.episodeId }).from(taskStatEvents).where(sql`${taskStatEvents.episodeId} in (select id from episodes where run_id = ${runId} and stage = ${stage})`);
      const [stats] = await db
        .select({ attempts: sql<number>`coalesce(sum(${taskStats.attempts}), 0)::int`, solves: sql<number>`coalesce(sum(${taskStats.solves}), 0)::int` })
        .from(taskStats)
        .where(and(eq(taskStats.runId, runId), eq(taskStats.stage, stage)));
      if (training) {
        expect(events.map((e) => e.id).sort()).toEqual(rows.map((r) => r.id).sort());
        expect(stats).toEqual({ attempts: n, solves: solved });

        // The iteration's stored metrics equal what the episode rows give.
        const [it] = await db.select().from(iterations).where(and(eq(iterations.runId, runId), eq(iterations.stage, stage)));
        const m = it!.metrics as Record<string, number>;
        expect(m.episodes).toBe(n);
        expect(m.passRate).toBeCloseTo(solved / n, 10);
        expect(m.meanTurns).toBeCloseTo(rows.reduce((a, r) => a + r.turnCount, 0) / n, 10);
        expect(m.submitRate).toBeCloseTo(rows.filter((r) => r.exitReason === 'submitted').length / n, 10);
        expect(m.infraFailures).toBe(rows.reduce((a, r) => a + r.infraFailures, 0));
      } else {
        expect(events).toEqual([]);
        expect(stats).toEqual({ attempts: 0, solves: 0 });
        expect(final.evals![0]!.pass1).toBeCloseTo(solved / n, 10);
      }
    }

    // The trainer saw each kept episode: RFT keeps the solved ones (R = 1) once per epoch.
    const rftSolved = (await db.select().from(episodes).where(and(eq(episodes.runId, runId), eq(episodes.stage, 'rft')))).filter((r) => r.reward === 1).length;
    expect(w.trainer.ledger(runId).filter((r) => r.kind === 'sft').reduce((a, r) => a + (r.metrics.samples ?? 0), 0)).toBe(rftSolved);

    // Real history lengths against the planner's estimates.
    const measured: string[] = [];
    for (const [stage, n] of [['rft', 6], ['rl-stage1', 24], ['eval', 4]] as const) {
      const tree = planFanout(n, LIMITS);
      if (stage === 'rl-stage1') expect(tree.height).toBe(3);
      for (const node of nodes(tree)) {
        const id = shardWorkflowId(runId, stage, 0, node);
        const history = await w.client.workflow.getHandle(id).fetchHistory();
        const events = history.events?.length ?? 0;
        measured.push(`${stage}[${node.from},${node.to})h${node.height}=${events}/${shardHistoryEvents(node, LIMITS)}`);
        expect(events).toBeLessThanOrEqual(shardHistoryEvents(node, LIMITS));
      }
    }
    for (const id of [`swerl-rft-${runId}-rft`, `swerl-iter-${runId}-rl-stage1-0`, `swerl-eval-${runId}-eval`]) {
      const events = (await w.client.workflow.getHandle(id).fetchHistory()).events?.length ?? 0;
      measured.push(`${id}=${events}`);
      expect(events).toBeLessThanOrEqual(iterationHistoryEvents(1));
    }
    console.log(`fan-out histories (events/estimate): ${measured.join(' ')}`);

    // SWERL_RECORD_HISTORIES=1 records the sharded path for test/integration/replay.test.ts.
    if (process.env.SWERL_RECORD_HISTORIES) {
      const dir = path.join(__dirname, '..', 'fixtures', 'histories');
      const rl = planFanout(24, LIMITS);
      const record = async (file: string, workflowId: string) =>
        writeFileSync(path.join(dir, file), historyToJSON(await w.client.workflow.getHandle(workflowId).fetchHistory()));
      await record('rlIteration-sharded.json', `swerl-iter-${runId}-rl-stage1-0`);
      await record('rftStage-sharded.json', `swerl-rft-${runId}-rft`);
      await record('evalStage-sharded.json', `swerl-eval-${runId}-eval`);
      await record('episodeShard-inner.json', shardWorkflowId(runId, 'rl-stage1', 0, rl));
      await record('episodeShard-leaf.json', shardWorkflowId(runId, 'rl-stage1', 0, rl.children[0]!.children[0]!.children[0]!));
      const rftSteps = final.iterations![0]!.updateSteps;
      if (rftSteps > 0) await record('updateSegment.json', `swerl-update-${runId}-rft-0-0-${rftSteps}`);
    }
  });
});
