/**
 * Where a worker or the CLI finds Temporal and Postgres: explicit environment first
 * (SWERL_TEMPORAL_ADDRESS, SWERL_TEMPORAL_NAMESPACE, SWERL_DATABASE_URL — what docker-compose sets),
 * then the endpoints.json that `swerl dev up` writes, then the dev stack's defaults.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { type TemporalTlsFiles, temporalConnectOptions, temporalTlsFromEnv } from './temporalTls';
import { endpointsFile, endpointsOf, stackSettings, type StackEndpoints } from '../cli/dev/settings';

export interface Endpoints {
  temporalAddress: string;
  temporalNamespace: string;
  databaseUrl: string;
  temporalUiUrl?: string;
  /** TLS to Temporal, from SWERL_TEMPORAL_TLS_* (workers/temporalTls.ts); absent = plaintext. */
  temporalTls?: TemporalTlsFiles;
}

export function resolveEndpoints(env: NodeJS.ProcessEnv = process.env): Endpoints {
  const settings = stackSettings(env);
  const file = endpointsFile(settings);
  const fromStack: StackEndpoints = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as StackEndpoints)
    : endpointsOf(settings);
  return {
    temporalAddress: env.SWERL_TEMPORAL_ADDRESS || fromStack.temporalAddress,
    temporalNamespace: env.SWERL_TEMPORAL_NAMESPACE || fromStack.temporalNamespace,
    databaseUrl: env.SWERL_DATABASE_URL || fromStack.databaseUrl,
    temporalUiUrl: fromStack.temporalUiUrl,
    // TLS: the environment's, else that of the stack `swerl dev up` made (its real server's).
    ...withTls(temporalTlsFromEnv(env) ?? fromStack.temporalTls),
  };
}

function withTls(tls: TemporalTlsFiles | undefined): { temporalTls?: TemporalTlsFiles } {
  return tls ? { temporalTls: tls } : {};
}

export async function connectClient(endpoints: Endpoints): Promise<Client> {
  const connection = await Connection.connect(temporalConnectOptions(endpoints));
  return new Client({ connection, namespace: endpoints.temporalNamespace });
}
