/**
 * The real Temporal server for the dev stack (`swerl dev up --temporal server`): `temporal-server`
 * v1.32.2 built from its Go module and cached (deploy/temporalBinaries.ts), with PostgreSQL
 * persistence and visibility in the stack's own Postgres (databases `temporal` and
 * `temporal_visibility`). Its schema is set up and migrated by Temporal's own `temporal-sql-tool`,
 * as the compose deployment's temporal-schema job does (deploy/temporal/setup-schema.sh), and the
 * namespace is registered once the frontend answers. The dev server stays the default.
 *
 * It connects as the stack's `postgres` role with the stack's password (cli/dev/pgPassword.ts).
 *
 * Ports: the frontend on SWERL_TEMPORAL_PORT (P); history, matching and worker gRPC on P+1..P+3;
 * their membership ports on P+4..P+7; the frontend's HTTP API on P+8. Everything on 127.0.0.1.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import YAML from 'yaml';
import { ensureTemporalServerBinaries } from '../../deploy/temporalBinaries';
import { ErrorCodes, StackError } from '../../core/errors';
import { assertPortsFree, type Component, isHealthy, processStatus, waitHealthy } from './component';
import { devPostgresPassword } from './pgPassword';
import { DATABASE_NAME, postgres } from './postgres';
import { livePidFromFile, signalAndWait, spawnDetached, waitUntil } from './process';
import { type StackSettings, stackTemporalTls } from './settings';
import { temporalConnectOptions } from '../../workers/temporalTls';

const DATABASES = [
  { name: 'temporal', schema: 'postgresql/v12/temporal' },
  { name: 'temporal_visibility', schema: 'postgresql/v12/visibility' },
] as const;


export function temporalServerFiles(s: StackSettings): { dir: string; config: string; dynamicConfig: string; log: string; pidFile: string } {
  const dir = path.join(s.stateDir, 'temporal-server');
  return {
    dir,
    config: path.join(dir, 'config.yaml'),
    dynamicConfig: path.join(dir, 'dynamicconfig.yaml'),
    log: path.join(dir, 'temporal-server.log'),
    pidFile: path.join(dir, 'temporal-server.pid'),
  };
}

function ports(s: StackSettings): { role: string; port: number }[] {
  const p = s.temporalPort;
  return [
    { role: 'frontend gRPC', port: p },
    { role: 'history gRPC', port: p + 1 },
    { role: 'matching gRPC', port: p + 2 },
    { role: 'worker gRPC', port: p + 3 },
    { role: 'frontend membership', port: p + 4 },
    { role: 'history membership', port: p + 5 },
    { role: 'matching membership', port: p + 6 },
    { role: 'worker membership', port: p + 7 },
    { role: 'frontend HTTP', port: p + 8 },
  ];
}

/**
 * Mutual TLS on the frontend with the certificates of `swerl dev certs DIR`: clients must present a
 * certificate signed by DIR/ca.pem. The server's own clients of the frontend (its system worker)
 * verify it with the same CA and present the client pair.
 */
function frontendTls(dir: string): unknown {
  const client = { serverName: 'localhost', rootCaFiles: [path.join(dir, 'ca.pem')] };
  return {
    frontend: {
      server: { certFile: path.join(dir, 'server.pem'), keyFile: path.join(dir, 'server.key'), requireClientAuth: true, clientCaFiles: [path.join(dir, 'ca.pem')] },
      client,
    },
    systemWorker: { certFile: path.join(dir, 'client.pem'), keyFile: path.join(dir, 'client.key'), client },
  };
}

/** The server's configuration (plain YAML, no template), written into the state dir at each start. */
export function serverConfig(s: StackSettings, dynamicConfigFile: string): unknown {
  const p = s.temporalPort;
  const sql = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `127.0.0.1:${s.pgPort}`,
      connectProtocol: 'tcp',
      user: 'postgres',
      password: devPostgresPassword(s),
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const globalMembership = { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } };
  const rpc = (grpcPort: number, membershipPort: number, httpPort?: number) => ({ rpc: { grpcPort, membershipPort, bindOnIP: '127.0.0.1', ...(httpPort ? { httpPort } : {}) } });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: 4,
      datastores: { default: sql(DATABASES[0].name, 20), visibility: sql(DATABASES[1].name, 10) },
    },
    global: s.temporalServerTlsDir ? { ...globalMembership, tls: frontendTls(s.temporalServerTlsDir) } : globalMembership,
    services: {
      frontend: rpc(p, p + 4, p + 8),
      history: rpc(p + 1, p + 5),
      matching: rpc(p + 2, p + 6),
      worker: rpc(p + 3, p + 7),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${p}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: dynamicConfigFile, pollInterval: '60s' },
  };
}

function runTool(bin: string, args: string[], password: string, timeoutMs: number, logFile: string): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    // The password goes in the environment (SQL_PASSWORD), never on the command line.
    execFile(bin, args, { timeout: timeoutMs, env: { ...process.env, SQL_PASSWORD: password }, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      fs.appendFileSync(logFile, `--- temporal-sql-tool ${args.join(' ')}\n${output}${err ? `(${err.message})\n` : ''}`);
      resolve({ ok: !err, output });
    });
  });
}

/** Creates both databases if missing and brings their schema to this server's version (idempotent). */
async function setupSchema(s: StackSettings, sqlTool: string, logFile: string): Promise<void> {
  const deadline = Date.now() + s.startTimeoutMs;
  const common = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(s.pgPort), '-u', 'postgres'];
  const password = devPostgresPassword(s);
  for (const db of DATABASES) {
    // Fails when the database exists: that is the normal case after the first start.
    await runTool(sqlTool, [...common, '--db', db.name, 'create-database'], password, Math.max(1000, deadline - Date.now()), logFile);
    for (const step of [['setup-schema', '-v', '0.0'], ['update-schema', '--schema-name', db.schema]]) {
      const r = await runTool(sqlTool, [...common, '--db', db.name, ...step], password, Math.max(1000, deadline - Date.now()), logFile);
      if (!r.ok) {
        throw new StackError(ErrorCodes.STACK_START_FAILED, `temporal-server: temporal-sql-tool ${step[0]} of ${db.name} failed:\n${r.output.trim().slice(-2000)}`, {
          component: 'temporal',
          database: db.name,
        });
      }
    }
  }
}

/** How the stack's own health checks reach the frontend: with the stack's client pair under TLS. */
function frontendConnectOptions(s: StackSettings): ReturnType<typeof temporalConnectOptions> {
  return temporalConnectOptions({ temporalAddress: `127.0.0.1:${s.temporalPort}`, temporalTls: stackTemporalTls(s) });
}

/** Registers the namespace once the frontend answers; bounded by the start timeout. */
async function registerNamespace(s: StackSettings, exited: () => string | undefined, logFile: string): Promise<void> {
  let last = '';
  const done = await waitUntil(
    async () => {
      if (exited() !== undefined) return true;
      let connection: Connection | undefined;
      try {
        connection = await Connection.connect({ ...frontendConnectOptions(s), connectTimeout: '5s' });
        await connection.workflowService.getSystemInfo({});
        try {
          await connection.workflowService.describeNamespace({ namespace: s.temporalNamespace });
        } catch {
          await connection.workflowService.registerNamespace({ namespace: s.temporalNamespace, workflowExecutionRetentionPeriod: msToTs('72h') });
        }
        return true;
      } catch (err) {
        // ALREADY_EXISTS: registered by an earlier start, not yet in the frontend's namespace cache.
        if ((err as { code?: number }).code === 6) return true;
        last = (err as Error).message;
        return false;
      } finally {
        await connection?.close().catch(() => undefined);
      }
    },
    s.startTimeoutMs,
    500,
  );
  const why = exited();
  if (done && why === undefined) return;
  throw new StackError(
    ErrorCodes.STACK_START_FAILED,
    `temporal-server ${why !== undefined ? `exited during start-up (${why})` : `did not accept namespace ${s.temporalNamespace} within ${s.startTimeoutMs} ms (last error: ${last})`}; see ${logFile}`,
    { component: 'temporal', logFile },
  );
}

export const temporalServer: Component = {
  name: 'temporal',

  url: (s) => `127.0.0.1:${s.temporalPort}`,

  // Matching the config path in the command line guards against a recycled pid.
  ownPid: (s) => livePidFromFile(temporalServerFiles(s).pidFile, temporalServerFiles(s).config),

  async health(s) {
    const connection = await Connection.connect({ ...frontendConnectOptions(s), connectTimeout: '5s' });
    try {
      await connection.workflowService.getSystemInfo({});
      await connection.workflowService.describeNamespace({ namespace: s.temporalNamespace });
    } finally {
      await connection.close();
    }
  },

  status(s) {
    return processStatus(this, s, [s.temporalPort]);
  },

  async start(s) {
    const files = temporalServerFiles(s);
    await assertPortsFree('temporal', ports(s));
    const pg = await isHealthy(postgres, s);
    if (!pg.ok) {
      throw new StackError(ErrorCodes.STACK_START_FAILED, `temporal-server needs the stack's Postgres on 127.0.0.1:${s.pgPort} (database ${DATABASE_NAME}'s server), which does not answer: ${pg.reason}`, {
        component: 'temporal',
      });
    }
    fs.mkdirSync(files.dir, { recursive: true });
    const bins = await ensureTemporalServerBinaries((line) => console.error(`[temporal-server] ${line}`));
    await setupSchema(s, bins['temporal-sql-tool']!, files.log);
    fs.writeFileSync(files.dynamicConfig, YAML.stringify({ 'limit.maxIDLength': [{ value: 255, constraints: {} }] }));
    // It holds the stack's Postgres password: readable by us alone, like <state>/postgres/password.
    fs.rmSync(`${files.config}.tmp`, { force: true });
    fs.writeFileSync(`${files.config}.tmp`, YAML.stringify(serverConfig(s, files.dynamicConfig)), { mode: 0o600 });
    fs.renameSync(`${files.config}.tmp`, files.config);
    const child = spawnDetached(bins['temporal-server']!, ['--config-file', files.config, '--allow-no-auth', 'start'], { logFile: files.log, cwd: files.dir });
    if (child.pid > 0) fs.writeFileSync(files.pidFile, `${child.pid}\n`);
    let exitReason: string | undefined;
    void child.exited.then((r) => (exitReason = r));
    await registerNamespace(s, () => exitReason, files.log);
    await waitHealthy(this, s, { logFile: files.log, exited: child.exited });
  },

  async stop(s) {
    const pid = this.ownPid(s);
    if (pid === undefined) return;
    await signalAndWait(pid, 'SIGTERM', { group: true, timeoutMs: 30_000, escalate: true });
    fs.rmSync(temporalServerFiles(s).pidFile, { force: true });
  },
};
