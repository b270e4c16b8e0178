/**
 * A short RFT run (2 toy tasks, gold scripts, one SFT step) with every process on TLS to Temporal:
 * the orchestration worker (its own process), the rollout worker, the Python trainer worker (its own
 * process) and the client that starts the run, each at the address `addressFor` gives it, each
 * configured by SWERL_TEMPORAL_TLS_* / Endpoints.temporalTls. Used by the TLS tests on a TLS front
 * of the dev server (test/integration/temporalTls.test.ts) and on the real server's own TLS
 * (test/temporal-server/tlsServer.test.ts).
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { startScriptedPolicyServer } from '../../activities/policy/scriptedServer';
import { createScriptBook, goldScript } from '../../activities/policy/scripts';
import { startParityProxy } from '../../activities/policy/seedRouter';
import { importTasks, persistImport } from '../../activities/tasks';
import { trainingRunWorkflowId } from '../../core/taskQueues';
import { createDb } from '../../db/client';
import { connectClient, type Endpoints } from '../../workers/endpoints';
import { createRolloutWorkers } from '../../workers/rollout';
import { type TemporalTlsFiles, temporalTlsEnv } from '../../workers/temporalTls';
import type { trainingRun } from '../../workflows/trainingRun';
import { EASY, EVAL_GOLD, TOY_SUITE, loopConfig } from '../integration/trainingLoopSetup';
import { createTestDatabase } from './db';
import { readTrainerLedger, trainerWorker } from './trainer';
import { workerProcess } from './workerProcess';

export type TlsRunner = 'orchestration' | 'rollout' | 'trainer' | 'client';

export interface TlsRunResult {
  phase: string;
  /** The trainer's own ledger of the run: `stage/iteration/step` of each applied update. */
  ledger: string[];
}

export async function rftRunOverTls(opts: {
  addressFor: (who: TlsRunner) => string;
  namespace: string;
  tls: TemporalTlsFiles;
  workDir: string;
  name: string;
}): Promise<TlsRunResult> {
  const tlsEnv = temporalTlsEnv(opts.tls);
  const database = await createTestDatabase(opts.name);
  const db = createDb(database.url);
  const queue = `test-${opts.name}-${randomUUID().slice(0, 8)}`;
  const checkpoints = path.join(opts.workDir, `checkpoints-${queue}`);
  const tasks = (await importTasks(TOY_SUITE, { validate: false })).accepted.filter((t) => [EASY, EVAL_GOLD].includes(t.instanceId));
  await persistImport(db.db, 'toy', { accepted: tasks, quarantined: [] });
  const policy = await startScriptedPolicyServer({
    port: 0,
    scripts: createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: goldScript(t) }))),
  });
  // acceptLoads: the real trainer's load_policy posts /v1/load to the policy URL it was given.
  const router = await startParityProxy(policy.url, policy.url, { acceptLoads: true });
  const over = (who: TlsRunner): Endpoints => ({ temporalAddress: opts.addressFor(who), temporalNamespace: opts.namespace, databaseUrl: database.url, temporalTls: opts.tls });
  const [rft] = loopConfig().stages;
  const config = loopConfig({ stages: [{ ...rft, batchSize: 4 }] });
  const rollout = await createRolloutWorkers({ endpoints: over('rollout'), db: db.db, sandbox: config.sandbox, hostId: `${opts.name}-${randomUUID().slice(0, 6)}`, sharedQueue: `${queue}-rollout` });
  const rolloutDone = rollout.run();
  const orchestration = workerProcess(`${opts.name}-orchestration`, {
    role: 'orchestration',
    env: { ...tlsEnv, SWERL_ORCHESTRATION_QUEUE: queue, SWERL_DATABASE_URL: database.url, SWERL_TEMPORAL_ADDRESS: opts.addressFor('orchestration'), SWERL_TEMPORAL_NAMESPACE: opts.namespace },
    readyPattern: /orchestration worker polling/,
  });
  const trainer = trainerWorker(`${opts.name}-trainer`, {
    temporalAddress: opts.addressFor('trainer'),
    namespace: opts.namespace,
    taskQueue: `${queue}-trainer`,
    checkpoints,
    baseId: 'toy-base',
    preset: 'test',
    maxSeqLen: 8192,
    policyUrl: router.url,
    env: tlsEnv,
  });
  const client = await connectClient(over('client'));
  try {
    await orchestration.start();
    await trainer.start();
    const runId = `${opts.name}-${randomUUID().slice(0, 8)}`;
    const handle = await client.workflow.start<typeof trainingRun>('trainingRun', {
      workflowId: trainingRunWorkflowId(runId),
      taskQueue: queue,
      args: [{ runId, config, services: { policyUrl: router.url, rolloutQueue: `${queue}-rollout`, trainerQueue: `${queue}-trainer` } }],
    });
    const final = await handle.result();
    return { phase: final.phase, ledger: (await readTrainerLedger(checkpoints, runId)).map((r) => `${r.stage}/${r.iteration}/${r.step}`) };
  } finally {
    await trainer.stop();
    await orchestration.kill('SIGKILL');
    rollout.shutdown();
    await rolloutDone.catch(() => {});
    await rollout.close();
    await client.connection.close();
    await router.close();
    await policy.close();
    await db.close();
    await database.drop();
  }
}
