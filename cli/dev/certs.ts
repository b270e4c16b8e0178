/**
 * A self-signed CA and the certificates for TLS between swerl's processes and Temporal (issue 18):
 * `swerl dev certs DIR` writes ca.pem/ca.key, server.pem/server.key (serverAuth; SANs localhost,
 * 127.0.0.1 and whatever --san adds, e.g. the Temporal frontend's DNS name) and client.pem/client.key
 * (clientAuth, for servers that require client certificates). ECDSA P-256, made by the openssl CLI.
 * Keys are 0600. For a deployment that already has a CA, use its certificates instead.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, StackError } from '../../core/errors';

export interface TemporalCerts {
  dir: string;
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

function openssl(args: string[], cwd: string): void {
  const res = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (res.status !== 0) {
    throw new StackError(ErrorCodes.STACK_DEPENDENCY_MISSING, `openssl ${args[0]} failed (${res.error?.message ?? `exit ${res.status}`}): ${(res.stderr ?? '').trim()}`, {
      component: 'certs',
    });
  }
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function leaf(dir: string, name: string, cn: string, ext: string[], days: number): void {
  openssl(['req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  const extFile = path.join(dir, `${name}.ext`);
  writeFileSync(extFile, `${ext.join('\n')}\n`);
  try {
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', String(days), '-extfile', extFile], dir);
  } finally {
    rmSync(extFile, { force: true });
    rmSync(path.join(dir, `${name}.csr`), { force: true });
  }
  chmodSync(path.join(dir, `${name}.key`), 0o600);
}

export function makeTemporalCerts(dir: string, opts: { sans?: string[]; days?: number; caName?: string } = {}): TemporalCerts {
  mkdirSync(dir, { recursive: true });
  const days = opts.days ?? 825;
  openssl(
    ['req', '-x509', ...KEY, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', String(days), '-subj', `/CN=${opts.caName ?? 'swerl self-signed CA'}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  chmodSync(path.join(dir, 'ca.key'), 0o600);
  const sans = ['DNS:localhost', 'IP:127.0.0.1', ...(opts.sans ?? []).map((s) => (/^\d+\.\d+\.\d+\.\d+$/.test(s) ? `IP:${s}` : `DNS:${s}`))];
  const common = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment'];
  leaf(dir, 'server', 'temporal', [...common, 'extendedKeyUsage=serverAuth', `subjectAltName=${sans.join(',')}`], days);
  leaf(dir, 'client', 'swerl-worker', [...common, 'extendedKeyUsage=clientAuth', 'subjectAltName=DNS:swerl-worker'], days);
  rmSync(path.join(dir, 'ca.srl'), { force: true });
  const p = (f: string) => path.join(dir, f);
  return { dir, ca: p('ca.pem'), caKey: p('ca.key'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key') };
}
