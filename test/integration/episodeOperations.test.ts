/**
 * Operators' episode operations on the real stack (Temporal, Postgres, Docker, the scripted
 * policy, the trainer double): a rescore grades the stored patch once and leaves the episode's
 * own reward alone; a fork at turn k copies the source's first k turns, samples only from turn k
 * on (counted per request id by the scripted servers), under the new policy version the trainer
 * loaded, and leaves the source untouched. The CLI functions and the dashboard's routes refuse
 * the same requests with the same codes; the page's eval launches `swerl eval` with the run's
 * config and records who asked.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goldScript } from '../../activities/policy/scripts';
import { requestFork, requestRescore, type OperationServices } from '../../cli/episodeOperations';
import { assistantIdx } from '../../core/transcript';
import { registerCheckpoint } from '../../db/checkpoints';
import { getEpisodeOperation, listEpisodeOperations } from '../../db/episodeOperations';
import { getEpisode } from '../../db/episodes';
import { getRewardResult } from '../../db/rewards';
import { upsertRun } from '../../db/runs';
import { episodeOperations } from '../../db/schema';
import { listTurns, type Turn } from '../../db/turns';
import { startDashboard, type Dashboard } from '../../dashboard/server';
import type { episode } from '../../workflows/episode';
import { buildEpisodeInput, episodeWorkflowId } from '../../workflows/episodeInput';
import { testEndpoints } from '../harness/stack';
import { recordHistoryFixture } from '../harness/historyFixtures';
import { EVAL_GOLD, loopConfig, loopWorld, type LoopWorld } from './trainingLoopSetup';

let w: LoopWorld;
let dash: Dashboard;
let services: OperationServices;
const tag = randomUUID().slice(0, 8);
const RUN = `epops-${tag}`;
const CK_A = `epops-a-${tag}`;
const CK_B = `epops-b-${tag}`;
let sourceId = '';
let goldTurns = 0;

beforeAll(async () => {
  w = await loopWorld('epops');
  await w.startWorker();
  await w.startRollout();
  services = { taskQueue: w.taskQueue, rolloutQueue: w.sharedQueue, trainerQueue: w.trainerQueue };
  for (const id of [CK_A, CK_B]) await registerCheckpoint(w.db.db, { id, kind: 'base', path: id });
  const config = loopConfig();
  await upsertRun(w.db.db, { id: RUN, workflowId: `swerl-run-${RUN}`, name: config.name, config: config as unknown as Record<string, unknown> });
  dash = await startDashboard({ db: w.db.db, client: w.client, port: 0, namespace: testEndpoints().temporalNamespace, operator: 'tester', services: { ...services, policyUrl: w.policyUrl } });

  // The source: the gold script on EVAL_GOLD under CK_A (solved, ends with a submit).
  const task = w.tasks.find((t) => t.instanceId === EVAL_GOLD)!;
  goldTurns = goldScript(task).length!;
  const stage = config.stages.find((s) => s.kind === 'eval')!;
  const input = { ...buildEpisodeInput(config, stage, { runId: RUN, iteration: 0, taskId: EVAL_GOLD, sampleIdx: 0 }, { url: w.policyUrl, policyVersion: CK_A }), rolloutQueue: w.sharedQueue };
  sourceId = input.episodeId;
  const result = await w.client.workflow.execute<typeof episode>('episode', { workflowId: episodeWorkflowId(sourceId), taskQueue: w.taskQueue, args: [input] });
  expect(result).toMatchObject({ reward: 1, exitReason: 'submitted', turns: goldTurns });
});
afterAll(async () => {
  await dash?.close();
  await w?.close();
});

function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> & { error?: { code: string; message: string } } }> {
  const port = Number(new URL(dash.url).port);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** What of a turn a fork must reproduce (not its timestamp or episode id). */
const content = (t: Turn) => ({ idx: t.idx, role: t.role, text: t.text, tokenIds: t.tokenIds, logprobs: t.logprobs, command: t.command, tool: t.tool, exitCode: t.exitCode, formatError: t.formatError });

async function sourceSnapshot() {
  const { updatedAt: _u, ...episodeRow } = await getEpisode(w.db.db, sourceId);
  return { episodeRow, turns: await listTurns(w.db.db, sourceId), reward: await getRewardResult(w.db.db, sourceId) };
}

describe('episode operations', () => {
  it('refuses what cannot apply, with the same codes from the CLI function and the dashboard', async () => {
    const cases: Array<{ body: Record<string, unknown>; episode?: string; code: string; status: number }> = [
      { episode: 'no-such-episode', body: { atTurn: 0, policyVersion: CK_B }, code: 'SWERL_EPISODE_NOT_FOUND', status: 404 },
      // The source submitted at its last turn: a copy including it would end before the new policy acts.
      { body: { atTurn: goldTurns, policyVersion: CK_B }, code: 'SWERL_EPISODE_OPERATION_INVALID', status: 409 },
      { body: { atTurn: 6, policyVersion: CK_B }, code: 'SWERL_EPISODE_OPERATION_INVALID', status: 409 },
      { body: { atTurn: 1, policyVersion: 'no-such-checkpoint' }, code: 'SWERL_CHECKPOINT_NOT_FOUND', status: 404 },
    ];
    for (const c of cases) {
      const episodeId = c.episode ?? sourceId;
      const viaCli = await requestFork(w.client, w.db.db, { episodeId, atTurn: c.body.atTurn as number, policyVersion: c.body.policyVersion as string, who: 'tester', reason: 'test' }, services).catch((e: unknown) => e);
      expect(viaCli, JSON.stringify(c)).toMatchObject({ code: c.code });
      const viaPage = await post(`/api/episodes/${encodeURIComponent(episodeId)}/fork`, { ...c.body, reason: 'test' });
      expect([viaPage.status, viaPage.json.error?.code], JSON.stringify(c)).toEqual([c.status, c.code]);
    }
    // The page takes no endpoint (nor anything else it does not know): a fork samples where the trainer loaded the checkpoint.
    const withUrl = await post(`/api/episodes/${encodeURIComponent(sourceId)}/fork`, { atTurn: 1, policyVersion: CK_B, policyUrl: 'http://127.0.0.1:1/' });
    expect([withUrl.status, withUrl.json.error?.code]).toEqual([400, 'SWERL_DASHBOARD_BAD_REQUEST']);
    const rescoreUnknown = await post('/api/episodes/no-such-episode/rescore', { reason: 'test' });
    expect([rescoreUnknown.status, rescoreUnknown.json.error?.code]).toEqual([404, 'SWERL_EPISODE_NOT_FOUND']);
    // Nothing was recorded or started by a refused request.
    expect(await w.db.db.select().from(episodeOperations)).toEqual([]);
  });

  it('rescores the stored patch once, records who and why, and leaves the episode as it was', async () => {
    const before = await sourceSnapshot();
    const started = await requestRescore(w.client, w.db.db, { episodeId: sourceId, who: 'alice', reason: 'task env fixed' }, services);
    const outcome = await started.handle.result();
    expect(outcome).toMatchObject({ kind: 'rescore', status: 'completed', reward: 1, graderRuns: 1 });
    const op = await getEpisodeOperation(w.db.db, started.operationId);
    expect(op).toMatchObject({ kind: 'rescore', episodeId: sourceId, actor: 'alice', reason: 'task env fixed', status: 'completed', graderRuns: 1, reward: 1, workflowId: started.workflowId });
    expect(op.result).toMatchObject({ reason: 'resolved', patchApplied: true });
    expect((op.result as { tests: unknown[] }).tests.length).toBeGreaterThan(0);

    // The same operation id again: the stored grade, no second grader run.
    const again = await requestRescore(w.client, w.db.db, { episodeId: sourceId, who: 'alice', reason: 'task env fixed', operationId: started.operationId }, services);
    expect(await again.handle.result()).toMatchObject({ graderRuns: 1, reward: 1 });
    expect((await getEpisodeOperation(w.db.db, started.operationId)).graderRuns).toBe(1);
    expect(await sourceSnapshot()).toEqual(before);
    await recordHistoryFixture('rescoreEpisode', started.handle);
  });

  it('forks at turn k from the page: the first k turns are the source\'s, only later turns are sampled, under the new version', async () => {
    const before = await sourceSnapshot();
    const k = goldTurns - 1; // every gold edit copied; the new policy's first act is the submit
    const res = await post(`/api/episodes/${encodeURIComponent(sourceId)}/fork`, { atTurn: k, policyVersion: CK_B, who: 'bob', reason: 'compare versions' });
    expect(res.status).toBe(200);
    const forkId = String(res.json.episodeId);
    const outcome = await w.client.workflow.getHandle(String(res.json.workflowId)).result();
    expect(outcome).toMatchObject({ kind: 'fork', status: 'completed', reward: 1, resultEpisodeId: forkId });

    const fork = await getEpisode(w.db.db, forkId);
    // The submitted diff comes from the sandbox rebuilt by replaying the copied edits.
    expect(fork).toMatchObject({ policyVersion: CK_B, runId: RUN, taskId: EVAL_GOLD, status: 'completed', reward: 1, exitReason: 'submitted', turnCount: goldTurns });
    expect(fork.patch).toBe(before.episodeRow.patch);
    const forkTurns = await listTurns(w.db.db, forkId);
    const copied = (ts: Turn[]) => ts.filter((t) => t.idx < assistantIdx(k)).map(content);
    expect(copied(forkTurns)).toEqual(copied(before.turns));
    expect(copied(forkTurns)).toHaveLength(assistantIdx(k));
    expect(w.trainer.loads).toContain(CK_B);

    // Sampling: never for a copied turn, once for each turn the new policy acted.
    const calls = w.policyCalls();
    for (let t = 0; t < k; t++) expect(calls[`${forkId}:${t}`], `fork turn ${t}`).toBeUndefined();
    for (let t = k; t < goldTurns; t++) expect(calls[`${forkId}:${t}`], `fork turn ${t}`).toHaveLength(1);
    for (let t = 0; t < goldTurns; t++) expect(calls[`${sourceId}:${t}`], `source turn ${t}`).toHaveLength(1);

    const [op] = await w.db.db.select().from(episodeOperations).where(eq(episodeOperations.id, String(res.json.operationId)));
    expect(op).toMatchObject({ kind: 'fork', actor: 'bob', reason: 'compare versions', atTurn: k, policyVersion: CK_B, resultEpisodeId: forkId, status: 'completed', reward: 1 });
    expect(await sourceSnapshot()).toEqual(before);
    // Both episodes list the fork; the trajectory view shows it.
    expect((await listEpisodeOperations(w.db.db, forkId)).map((o) => o.id)).toEqual([op!.id]);
    expect((await listEpisodeOperations(w.db.db, sourceId)).map((o) => o.kind)).toEqual(['rescore', 'fork']);
    await recordHistoryFixture('forkEpisode', w.client.workflow.getHandle(String(res.json.workflowId)));
  });

  it("evals a checkpoint from the page with the run's config, recording who and why", async () => {
    const res = await post(`/api/runs/${RUN}/eval`, { checkpointId: CK_B, runs: 1, who: 'carol', reason: 'before promoting' });
    expect(res.status).toBe(200);
    const handle = w.client.workflow.getHandle(String(res.json.workflowId));
    try {
      const d = await handle.describe();
      expect(d.type).toBe('checkpointEval');
      expect(d.memo).toMatchObject({ swerlCheckpoint: CK_B, swerlActor: 'carol', swerlReason: 'before promoting' });
    } finally {
      await handle.terminate('test: the launch is what is tested (checkpointEval.test.ts runs one)').catch(() => {});
    }
    const unknown = await post(`/api/runs/${RUN}/eval`, { checkpointId: 'no-such-checkpoint', reason: 'x' });
    expect([unknown.status, unknown.json.error?.code]).toEqual([404, 'SWERL_CHECKPOINT_NOT_FOUND']);
    const noRun = await post('/api/runs/no-such-run/eval', { checkpointId: CK_B, reason: 'x' });
    expect([noRun.status, noRun.json.error?.code]).toEqual([404, 'SWERL_RUN_NOT_FOUND']);
  });
});
