/**
 * TLS between swerl's processes and Temporal, with a self-signed CA (`swerl dev certs`) and client
 * certificates required (issue 18). Each process reaches Temporal through its own TLS front
 * (test/harness/tlsProxy.ts, standing where a TLS-enabled frontend stands), so the test sees which
 * process made verified handshakes: the orchestration worker (its own process), the rollout worker,
 * the Python trainer worker (its own process) and the CLI's client. A short RFT run must complete
 * through them with its update step applied by the trainer. Then what must be refused is: no client
 * certificate, a server signed by another CA, half a client pair.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTemporalCerts, type TemporalCerts } from '../../cli/dev/certs';
import { errorCodeOf } from '../../core/errors';
import { installTemporalLogging } from '../../workers/logging';
import { temporalConnectOptions, temporalTlsFromEnv, type TemporalTlsFiles } from '../../workers/temporalTls';
import { testEndpoints } from '../harness/stack';
import { startTlsProxy, type TlsProxy } from '../harness/tlsProxy';
import { rftRunOverTls } from '../harness/tlsRun';

const MINUTES = 60_000;
let dir: string;
let certs: TemporalCerts;
let tlsFiles: TemporalTlsFiles;
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
  tlsFiles = temporalTlsFromEnv({ SWERL_TEMPORAL_TLS_CA: certs.ca, SWERL_TEMPORAL_TLS_CERT: certs.clientCert, SWERL_TEMPORAL_TLS_KEY: certs.clientKey })!;
});
afterAll(async () => {
  for (const p of proxies) await p.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS to Temporal with a self-signed CA and client certificates', () => {
  it('an RFT run completes with every process on verified TLS', async () => {
    const fronts = { orchestration: await front(), rollout: await front(), trainer: await front(), client: await front() };
    const result = await rftRunOverTls({
      addressFor: (who) => fronts[who].address,
      namespace: testEndpoints().temporalNamespace,
      tls: tlsFiles,
      workDir: dir,
      name: 'tls',
    });
    expect(result.phase).toBe('completed');
    // The update step went through the TLS-connected trainer and was applied once.
    expect(result.ledger).toEqual(['rft/0/0']);
    // Every process made verified handshakes with the client certificate through its own front.
    for (const [name, proxy] of Object.entries(fronts)) {
      expect(proxy.authorized.length, name).toBeGreaterThan(0);
      expect(new Set(proxy.authorized), name).toEqual(new Set(['swerl-worker']));
      expect(proxy.refused, name).toEqual([]);
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
