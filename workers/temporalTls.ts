/**
 * TLS between swerl's processes and Temporal (issue 18). Off unless the environment asks for it:
 *
 * - `SWERL_TEMPORAL_TLS_CA`: PEM of the CA that signed the server's certificate (a self-signed CA
 *   of your own: `swerl dev certs DIR` makes one); without it the system's roots are trusted.
 * - `SWERL_TEMPORAL_TLS_CERT` + `SWERL_TEMPORAL_TLS_KEY`: this client's certificate and key, for a
 *   server that requires client certificates (mTLS). Both or neither.
 * - `SWERL_TEMPORAL_TLS_SERVER_NAME`: the name to verify instead of the address's host.
 * - `SWERL_TEMPORAL_TLS=1`: TLS with none of the above (a server with a publicly trusted certificate).
 *
 * The same variables configure the Python trainer worker (trainer/swerl_trainer/worker.py), so one
 * environment serves every process of a deployment. Files are read when a connection is made; a
 * file that cannot be read is SWERL_CONFIG_INVALID naming the variable, never a silent plaintext.
 */
import { readFileSync } from 'node:fs';
import { type TLSConfig } from '@temporalio/client';
import { ConfigError, ErrorCodes } from '../core/errors';

/** Where the TLS material lives (paths, so endpoints stay plain JSON). */
export interface TemporalTlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  serverName?: string;
}

const VARS = {
  caFile: 'SWERL_TEMPORAL_TLS_CA',
  certFile: 'SWERL_TEMPORAL_TLS_CERT',
  keyFile: 'SWERL_TEMPORAL_TLS_KEY',
  serverName: 'SWERL_TEMPORAL_TLS_SERVER_NAME',
} as const;

export function temporalTlsFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalTlsFiles | undefined {
  const files: TemporalTlsFiles = {};
  for (const [key, name] of Object.entries(VARS) as Array<[keyof TemporalTlsFiles, string]>) {
    const value = env[name];
    if (value) files[key] = value;
  }
  const enabled = env.SWERL_TEMPORAL_TLS;
  if (enabled !== undefined && enabled !== '' && !['0', '1', 'false', 'true'].includes(enabled)) {
    throw new ConfigError(ErrorCodes.CONFIG_INVALID, `SWERL_TEMPORAL_TLS=${enabled}: expected 1/true or 0/false`, { variable: 'SWERL_TEMPORAL_TLS' });
  }
  if (Boolean(files.certFile) !== Boolean(files.keyFile)) {
    throw new ConfigError(ErrorCodes.CONFIG_INVALID, `${VARS.certFile} and ${VARS.keyFile} go together (a client certificate needs its key)`, {
      variable: files.certFile ? VARS.keyFile : VARS.certFile,
    });
  }
  const any = Object.keys(files).length > 0;
  if (enabled === '0' || enabled === 'false') {
    if (any) throw new ConfigError(ErrorCodes.CONFIG_INVALID, 'SWERL_TEMPORAL_TLS=0 but TLS files are set', { variable: 'SWERL_TEMPORAL_TLS' });
    return undefined;
  }
  return any || enabled === '1' || enabled === 'true' ? files : undefined;
}

/** The environment that configures another process (a worker, the Python trainer) for these files. */
export function temporalTlsEnv(files: TemporalTlsFiles): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, name] of Object.entries(VARS) as Array<[keyof TemporalTlsFiles, string]>) {
    const value = files[key];
    if (value) env[name] = value;
  }
  return env;
}

function readPem(file: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(ErrorCodes.CONFIG_INVALID, `${variable}=${file}: ${(err as Error).message}`, { variable, file });
  }
}

/** The SDK's TLS option for these files (undefined = plaintext). */
export function temporalTlsConfig(files: TemporalTlsFiles | undefined): TLSConfig | undefined {
  if (!files) return undefined;
  const tls: TLSConfig = {};
  if (files.caFile) tls.serverRootCACertificate = readPem(files.caFile, VARS.caFile);
  if (files.certFile && files.keyFile) tls.clientCertPair = { crt: readPem(files.certFile, VARS.certFile), key: readPem(files.keyFile, VARS.keyFile) };
  if (files.serverName) tls.serverNameOverride = files.serverName;
  return tls;
}

/** `{ address, tls }` for Connection.connect / NativeConnection.connect. */
export function temporalConnectOptions(endpoints: { temporalAddress: string; temporalTls?: TemporalTlsFiles }): { address: string; tls?: TLSConfig } {
  const tls = temporalTlsConfig(endpoints.temporalTls);
  return tls ? { address: endpoints.temporalAddress, tls } : { address: endpoints.temporalAddress };
}
