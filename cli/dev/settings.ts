/**
 * Where the local dev stack lives and which ports it uses. Everything is derived from the
 * environment so that tests (and a second developer on the same machine) can run a private stack
 * beside the shared one by setting SWERL_HOME and the port variables.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ErrorCodes } from '../../core/errors';
import type { TemporalTlsFiles } from '../../workers/temporalTls';
import { devDatabaseUrl } from './pgPassword';

export type ComponentName = 'docker' | 'temporal' | 'postgres';
export const COMPONENTS: readonly ComponentName[] = ['docker', 'temporal', 'postgres'];

/** `dev`: `temporal server start-dev` on SQLite (the default); `server`: the real temporal-server on the stack's Postgres. */
export type TemporalKind = 'dev' | 'server';

export interface StackSettings {
  stateDir: string;
  temporalKind: TemporalKind;
  /**
   * The real server only: a directory made by `swerl dev certs` (ca.pem, server.pem/.key,
   * client.pem/.key); the frontend then requires TLS with client certificates signed by that CA.
   */
  temporalServerTlsDir?: string;
  temporalPort: number;
  temporalUiPort: number;
  pgPort: number;
  temporalNamespace: string;
  dockerSocket: string;
  /** How long a component may take to become healthy before SWERL_STACK_START_FAILED. */
  startTimeoutMs: number;
}

export interface StackEndpoints {
  stateDir: string;
  temporalAddress: string;
  temporalUiUrl: string;
  temporalNamespace: string;
  databaseUrl: string;
  dockerSocket: string;
  /** TLS to the stack's Temporal (the real server with SWERL_TEMPORAL_SERVER_TLS_DIR). */
  temporalTls?: TemporalTlsFiles;
}

/** The repository root: two levels above cli/dev/. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function portFrom(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(ErrorCodes.CONFIG_INVALID, `${key}=${raw} is not a TCP port (1-65535)`, { variable: key, value: raw });
  }
  return port;
}

function dockerSocketFrom(env: NodeJS.ProcessEnv): string {
  const host = env.DOCKER_HOST;
  // Only a unix socket is a local daemon we can start; anything else falls back to the default.
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  return '/var/run/docker.sock';
}

/** Where `dev up` records which Temporal it started, so later commands on the stack use the same one. */
export function temporalKindFile(stateDir: string): string {
  return path.join(stateDir, 'temporal-kind');
}

/** SWERL_TEMPORAL_KIND when set, else what `dev up` recorded in the state dir, else the dev server. */
function temporalKindOf(env: NodeJS.ProcessEnv, stateDir: string): TemporalKind {
  let raw = env.SWERL_TEMPORAL_KIND;
  if (raw === undefined || raw === '') {
    try {
      raw = fs.readFileSync(temporalKindFile(stateDir), 'utf8').trim();
    } catch {
      raw = 'dev';
    }
  }
  if (raw !== 'dev' && raw !== 'server') {
    throw new ConfigError(ErrorCodes.CONFIG_INVALID, `SWERL_TEMPORAL_KIND=${raw} is not dev or server`, { variable: 'SWERL_TEMPORAL_KIND', value: raw });
  }
  return raw;
}

/** Where `dev up` records the TLS directory of the real server, so later commands on the stack use TLS too. */
export function temporalTlsDirFile(stateDir: string): string {
  return path.join(stateDir, 'temporal-tls-dir');
}

/** SWERL_TEMPORAL_SERVER_TLS_DIR when set, else what `dev up` recorded (an empty file: no TLS). */
function serverTlsDirOf(env: NodeJS.ProcessEnv, stateDir: string): { temporalServerTlsDir?: string } {
  let dir = env.SWERL_TEMPORAL_SERVER_TLS_DIR;
  if (dir === undefined) {
    try {
      dir = fs.readFileSync(temporalTlsDirFile(stateDir), 'utf8').trim();
    } catch {
      dir = '';
    }
  }
  return dir ? { temporalServerTlsDir: path.resolve(dir) } : {};
}

/** The client side of the stack's TLS: the CA and the client pair `swerl dev certs` made. */
export function stackTemporalTls(s: Pick<StackSettings, 'temporalServerTlsDir'>): TemporalTlsFiles | undefined {
  const dir = s.temporalServerTlsDir;
  return dir ? { caFile: path.join(dir, 'ca.pem'), certFile: path.join(dir, 'client.pem'), keyFile: path.join(dir, 'client.key') } : undefined;
}

export function stackSettings(env: NodeJS.ProcessEnv = process.env): StackSettings {
  const timeout = Number(env.SWERL_STACK_START_TIMEOUT_MS ?? '');
  const stateDir = path.resolve(env.SWERL_HOME || path.join(REPO_ROOT, '.swerl'));
  return {
    stateDir,
    temporalKind: temporalKindOf(env, stateDir),
    ...serverTlsDirOf(env, stateDir),
    temporalPort: portFrom(env, 'SWERL_TEMPORAL_PORT', 7233),
    temporalUiPort: portFrom(env, 'SWERL_TEMPORAL_UI_PORT', 8233),
    pgPort: portFrom(env, 'SWERL_PG_PORT', 5433),
    temporalNamespace: 'default',
    dockerSocket: dockerSocketFrom(env),
    startTimeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : 90_000,
  };
}

export function endpointsOf(s: StackSettings): StackEndpoints {
  return {
    stateDir: s.stateDir,
    temporalAddress: `127.0.0.1:${s.temporalPort}`,
    temporalUiUrl: `http://127.0.0.1:${s.temporalUiPort}`,
    temporalNamespace: s.temporalNamespace,
    databaseUrl: devDatabaseUrl(s, 'swerl'),
    dockerSocket: s.dockerSocket,
    ...(s.temporalServerTlsDir ? { temporalTls: stackTemporalTls(s) } : {}),
  };
}

export function endpointsFile(s: Pick<StackSettings, 'stateDir'>): string {
  return path.join(s.stateDir, 'endpoints.json');
}
