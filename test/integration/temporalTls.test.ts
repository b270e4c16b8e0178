/**
 * TLS between swerl's processes and Temporal, with a self-signed CA (`swerl dev certs`) and client
 * certificates required (issue 18). Each process reaches Temporal through its own TLS front
 * (test/harness/tlsProxy.ts, standing where a TLS-enabled frontend stands), so the test sees which
 * process made verified handshakes: the orchestration worker (its own process), the rollout worker,
 * the Python trainer worker (its own process) and the CLI's client. A short RFT run must complete
 * through them with its update step applied by the trainer. Then what must be refused is: no client
 * certificate, a server signed by another CA, half a client pair.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedPolicyServer, type ScriptedPolicyServer } from '../../activities/policy/scriptedServer';
import { createScriptBook, goldScript } from '../../activities/policy/scripts';
import { startParityProxy } from '../../activities/policy/seedRouter';
import { importTasks, persistImport } from '../../activities/tasks';
import { makeTemporalCerts, type TemporalCerts } from '../../cli/dev/certs';
import { errorCodeOf } from '../../core/errors';
import { trainingRunWorkflowId } from '../../core/taskQueues';
import { createDb, type DbHandle } from '../../db/client';
import { connectClient, type Endpoints } from '../../workers/endpoints';
import { installTemporalLogging } from '../../workers/logging';
import { createRolloutWorkers } from '../../workers/rollout';
import { temporalConnectOptions, temporalTlsFromEnv, type TemporalTlsFiles } from '../../workers/temporalTls';
import type { trainingRun } from '../../workflows/trainingRun';
import { createTestDatabase, type TestDatabase } from '../harness/db';
import { testEndpoints } from '../harness/stack';
import { startTlsProxy, type TlsProxy } from '../harness/tlsProxy';
import { readTrainerLedger, trainerWorker } from '../harness/trainer';
import { workerProcess } from '../harness/workerProcess';
import { EASY, EVAL_GOLD, TOY_SUITE, loopConfig } from './trainingLoopSetup';

const MINUTES = 60_000;
let dir: string;
let certs: TemporalCerts;
let tlsFiles: TemporalTlsFiles;
let tlsEnv: Record<string, string>;
const proxies: TlsProxy[] = [];

async function front(): Promise<TlsProxy> {
  const proxy = await startTlsProxy({
    target: testEndpoints().temporalAddress,
    key: readFileSync(certs.serverKey),
    cert: readFileSync(certs.serverCert),
    ca: readFileSync(certs.ca),
    requireClientCert: true,
  });
  proxies.push(proxy);
  return proxy;
}

beforeAll(() => {
  installTemporalLogging('warn');
  dir = mkdtempSync(path.join(os.tmpdir(), 'swerl-tls-'));
  certs = makeTemporalCerts(path.join(dir, 'pki'));
  tlsEnv = { SWERL_TEMPORAL_TLS_CA: certs.ca, SWERL_TEMPORAL_TLS_CERT: certs.clientCert, SWERL_TEMPORAL_TLS_KEY: certs.clientKey };
  tlsFiles = temporalTlsFromEnv(tlsEnv)!;
});
afterAll(async () => {
  for (const p of proxies) await p.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS to Temporal with a self-signed CA and client certificates', () => {
  it('an RFT run completes with every process on verified TLS', async () => {
    const stack = testEndpoints();
    const [orchestrationFront, rolloutFront, trainerFront, clientFront] = [await front(), await front(), await front(), await front()];
    const database: TestDatabase = await createTestDatabase('tls');
    const db: DbHandle = createDb(database.url);
    const queue = `test-tls-${randomUUID().slice(0, 8)}`;
    const checkpoints = path.join(dir, 'checkpoints');
    const tasks = (await importTasks(TOY_SUITE, { validate: false })).accepted.filter((t) => [EASY, EVAL_GOLD].includes(t.instanceId));
    await persistImport(db.db, 'toy', { accepted: tasks, quarantined: [] });
    const policy: ScriptedPolicyServer = await startScriptedPolicyServer({
      port: 0,
      scripts: createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: goldScript(t) }))),
    });
    // acceptLoads: the real trainer's load_policy posts /v1/load to the policy URL it was given.
    const router = await startParityProxy(policy.url, policy.url, { acceptLoads: true });
    const over = (proxy: TlsProxy): Endpoints => ({ temporalAddress: proxy.address, temporalNamespace: stack.temporalNamespace, databaseUrl: database.url, temporalTls: tlsFiles });
    const [rft] = loopConfig().stages;
    const config = loopConfig({ stages: [{ ...rft, batchSize: 4 }] });
    const rollout = await createRolloutWorkers({ endpoints: over(rolloutFront), db: db.db, sandbox: config.sandbox, hostId: `tls-${randomUUID().slice(0, 6)}`, sharedQueue: `${queue}-rollout` });
    const rolloutDone = rollout.run();
    const orchestration = workerProcess('tls-orchestration', {
      role: 'orchestration',
      env: { ...tlsEnv, SWERL_ORCHESTRATION_QUEUE: queue, SWERL_DATABASE_URL: database.url, SWERL_TEMPORAL_ADDRESS: orchestrationFront.address, SWERL_TEMPORAL_NAMESPACE: stack.temporalNamespace },
      readyPattern: /orchestration worker polling/,
    });
    const trainer = trainerWorker('tls-trainer', {
      temporalAddress: trainerFront.address,
      namespace: stack.temporalNamespace,
      taskQueue: `${queue}-trainer`,
      checkpoints,
      baseId: 'toy-base',
      preset: 'test',
      maxSeqLen: 8192,
      policyUrl: router.url,
      env: tlsEnv,
    });
    const client = await connectClient(over(clientFront));
    try {
      await orchestration.start();
      await trainer.start();
      const runId = `tls-${randomUUID().slice(0, 8)}`;
      const handle = await client.workflow.start<typeof trainingRun>('trainingRun', {
        workflowId: trainingRunWorkflowId(runId),
        taskQueue: queue,
        args: [{ runId, config, services: { policyUrl: router.url, rolloutQueue: `${queue}-rollout`, trainerQueue: `${queue}-trainer` } }],
      });
      const final = await handle.result();
      expect(final.phase).toBe('completed');
      // The update step went through the TLS-connected trainer and was applied once.
      expect((await readTrainerLedger(checkpoints, runId)).map((r) => `${r.stage}/${r.iteration}/${r.step}`)).toEqual(['rft/0/0']);
      // Every process made verified handshakes with the client certificate through its own front.
      for (const [name, proxy] of Object.entries({ orchestrationFront, rolloutFront, trainerFront, clientFront })) {
        expect(proxy.authorized.length, name).toBeGreaterThan(0);
        expect(new Set(proxy.authorized), name).toEqual(new Set(['swerl-worker']));
        expect(proxy.refused, name).toEqual([]);
      }
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
  }, 10 * MINUTES);

  it('refuses a client without a certificate and a server signed by another CA; half a client pair is a config error', async () => {
    const proxy = await front();
    const connect = (tls: TemporalTlsFiles) =>
      Connection.connect({ ...temporalConnectOptions({ temporalAddress: proxy.address, temporalTls: tls }), connectTimeout: '5s' }).then(
        async (c) => {
          await c.close();
          return 'connected';
        },
        (e: unknown) => (e as Error).message,
      );
    expect(await connect({ caFile: certs.ca })).not.toBe('connected');
    expect(proxy.refused.some((m) => /certificate/i.test(m))).toBe(true);
    expect(proxy.authorized).toEqual([]);

    const other = makeTemporalCerts(path.join(dir, 'other'), { caName: 'another CA' });
    expect(await connect({ caFile: other.ca, certFile: other.clientCert, keyFile: other.clientKey })).not.toBe('connected');
    expect(proxy.authorized).toEqual([]);
    // The control: the right files connect through the same front.
    expect(await connect(tlsFiles)).toBe('connected');
    expect(proxy.authorized).toEqual(['swerl-worker']);

    expect(errorCodeOf(catching(() => temporalTlsFromEnv({ SWERL_TEMPORAL_TLS_CERT: certs.clientCert })))).toBe('SWERL_CONFIG_INVALID');
    expect(errorCodeOf(catching(() => temporalConnectOptions({ temporalAddress: proxy.address, temporalTls: { caFile: path.join(dir, 'missing.pem') } })))).toBe(
      'SWERL_CONFIG_INVALID',
    );
    expect(temporalTlsFromEnv({})).toBeUndefined();
  }, 2 * MINUTES);
});

function catching(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err;
  }
}
