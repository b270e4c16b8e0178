/**
 * The real Temporal server (v1.32.2, `swerl dev up --temporal server`) with its own mutual TLS
 * (issue 18): a private stack whose frontend requires client certificates signed by a self-signed
 * CA from `swerl dev certs`. An RFT run completes with every process (orchestration and rollout
 * workers, the Python trainer, the client) connected over that TLS; plaintext, a client without a
 * certificate and a client trusting another CA are refused. Not in `make test`: the server is
 * built from its Go module the first time (`npm run test:temporal-tls`).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTemporalCerts, type TemporalCerts } from '../../cli/dev/certs';
import { devDown, devUp, type StackEndpoints } from '../../cli/dev/stack';
import { temporalConnectOptions, type TemporalTlsFiles } from '../../workers/temporalTls';
import { freePort, freeRange } from '../harness/ports';
import { rftRunOverTls } from '../harness/tlsRun';

const MINUTES = 60_000;
let dir: string;
let certs: TemporalCerts;
let env: NodeJS.ProcessEnv;
let ep: StackEndpoints;

async function connects(tls: TemporalTlsFiles | undefined): Promise<string> {
  try {
    const c = await Connection.connect({ ...temporalConnectOptions({ temporalAddress: ep.temporalAddress, temporalTls: tls }), connectTimeout: '5s' });
    try {
      await c.workflowService.getSystemInfo({});
      return 'connected';
    } finally {
      await c.close();
    }
  } catch (err) {
    return (err as Error).message;
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'swerl-tls-server-'));
  chmodSync(dir, 0o711); // the postgres user must reach the state dir inside it
  certs = makeTemporalCerts(path.join(dir, 'pki'));
  env = {
    ...process.env,
    SWERL_HOME: path.join(dir, 'state'),
    SWERL_TEMPORAL_KIND: 'server',
    SWERL_TEMPORAL_SERVER_TLS_DIR: certs.dir,
    SWERL_TEMPORAL_PORT: String(await freeRange(9)),
    SWERL_TEMPORAL_UI_PORT: String(await freePort()),
    SWERL_PG_PORT: String(await freePort()),
    SWERL_STACK_START_TIMEOUT_MS: String(5 * MINUTES),
  };
  ep = await devUp({ only: ['postgres', 'temporal'], env });
}, 30 * MINUTES);

afterAll(async () => {
  if (env) await devDown({ only: ['temporal', 'postgres'], env });
  rmSync(dir, { recursive: true, force: true });
}, 5 * MINUTES);

describe('the real Temporal server with mutual TLS', () => {
  it('the stack records its TLS in endpoints; plaintext, no client certificate and another CA are refused', async () => {
    expect(ep.temporalTls).toEqual({ caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey });
    expect(await connects(ep.temporalTls)).toBe('connected');
    expect(await connects(undefined)).not.toBe('connected');
    expect(await connects({ caFile: certs.ca })).not.toBe('connected');
    const other = makeTemporalCerts(path.join(dir, 'other'), { caName: 'another CA' });
    expect(await connects({ caFile: other.ca, certFile: other.clientCert, keyFile: other.clientKey })).not.toBe('connected');
  }, 5 * MINUTES);

  it('an RFT run completes with every process connected over the server’s own TLS', async () => {
    const result = await rftRunOverTls({ addressFor: () => ep.temporalAddress, namespace: ep.temporalNamespace, tls: ep.temporalTls!, workDir: dir, name: 'tlsserver' });
    expect(result.phase).toBe('completed');
    expect(result.ledger).toEqual(['rft/0/0']);
  }, 15 * MINUTES);
});
