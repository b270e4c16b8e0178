/**
 * A private PostgreSQL cluster in the state dir, on 127.0.0.1 only and on a port other than 5432 so
 * it never collides with a system Postgres. Every connection needs a password (scram-sha-256), also on
 * loopback: another local user must not read or change a run. The password is made on first use and
 * kept in `<state>/postgres/password` (0600); the stack's database URL carries it. When we are
 * root the server runs as the `postgres` user (it refuses to run as root).
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { ErrorCodes, StackError } from '../../core/errors';
import { assertPortsFree, type Component, processStatus, waitHealthy } from './component';
import { aptInstall } from './install';
import { isAlive, livePidFromFile, signalAndWait, spawnDetached, waitUntil } from './process';
import { devDatabaseUrl, devPostgresPassword } from './pgPassword';
import { type StackSettings } from './settings';

export const DATABASE_NAME = 'swerl';

export function postgresFiles(s: StackSettings): { dir: string; data: string; socketDir: string; log: string; pidFile: string } {
  const dir = path.join(s.stateDir, 'postgres');
  const data = path.join(dir, 'data');
  return { dir, data, socketDir: path.join(dir, 'run'), log: path.join(dir, 'postgres.log'), pidFile: path.join(data, 'postmaster.pid') };
}

/** What pg_hba.conf holds: a password on the socket and on loopback, nothing from elsewhere. */
const HBA_CONF = `# swerl dev stack: every connection authenticates with the password in ../password.
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
`;

/** Newest Debian PostgreSQL bin dir, installing the `postgresql` package when there is none. */
function postgresBinDir(): string {
  const find = (): string | undefined => {
    let versions: string[] = [];
    try {
      versions = fs.readdirSync('/usr/lib/postgresql').filter((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/postgres`));
    } catch {
      return undefined;
    }
    versions.sort((a, b) => Number(b) - Number(a));
    return versions[0] === undefined ? undefined : `/usr/lib/postgresql/${versions[0]}/bin`;
  };
  const found = find();
  if (found) return found;
  aptInstall('postgres', 'postgresql');
  const installed = find();
  if (!installed) {
    throw new StackError(ErrorCodes.STACK_DEPENDENCY_MISSING, 'postgres: installed the postgresql package but found no /usr/lib/postgresql/*/bin/postgres', {
      component: 'postgres',
    });
  }
  return installed;
}

/** uid/gid to run the server as: ourselves, or the `postgres` user when we are root. */
function serverUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const res = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gidRes = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (res.status !== 0 || gidRes.status !== 0) {
    throw new StackError(ErrorCodes.STACK_DEPENDENCY_MISSING, 'postgres: running as root but there is no `postgres` user to run the server as', {
      component: 'postgres',
    });
  }
  return { uid: Number(res.stdout.trim()), gid: Number(gidRes.stdout.trim()) };
}

function prepareDirs(s: StackSettings, user: { uid?: number; gid?: number }): void {
  const files = postgresFiles(s);
  fs.mkdirSync(files.socketDir, { recursive: true });
  if (user.uid === undefined || user.gid === undefined) return;
  // The server user must be able to reach its data dir: a mkdtemp state dir is 0700.
  const mode = fs.statSync(s.stateDir).mode & 0o777;
  if ((mode & 0o001) === 0) fs.chmodSync(s.stateDir, mode | 0o001);
  for (const dir of [files.dir, files.socketDir]) fs.chownSync(dir, user.uid, user.gid);
  if (fs.existsSync(files.data)) fs.chownSync(files.data, user.uid, user.gid);
}

function initdb(s: StackSettings, bin: string, user: { uid?: number; gid?: number }): void {
  const files = postgresFiles(s);
  if (fs.existsSync(path.join(files.data, 'PG_VERSION'))) return;
  // A half-made data dir from an interrupted initdb would make initdb refuse; start over.
  fs.rmSync(files.data, { recursive: true, force: true });
  // initdb reads the password from a file the server user can open: a copy for it alone, removed
  // at once (the state dir's copy stays its owner's). A pipe on stdin is a socket here, not a file.
  const pwfile = path.join(files.dir, `.initdb-pw-${process.pid}`);
  fs.writeFileSync(pwfile, `${devPostgresPassword(s)}\n`, { mode: 0o600 });
  let res: SpawnSyncReturns<string>;
  try {
    if (user.uid !== undefined && user.gid !== undefined) fs.chownSync(pwfile, user.uid, user.gid);
    res = spawnSync(
      path.join(bin, 'initdb'),
      ['-D', files.data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '--encoding=UTF8', '--no-locale'],
      { encoding: 'utf8', cwd: files.dir, uid: user.uid, gid: user.gid },
    );
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
  fs.appendFileSync(files.log, `--- initdb\n${res.stdout ?? ''}${res.stderr ?? ''}`);
  if (res.status !== 0) {
    throw new StackError(
      ErrorCodes.STACK_START_FAILED,
      `postgres: initdb of ${files.data} failed (${res.error?.message ?? `exit ${res.status}`}):\n${(res.stderr ?? '').trim()}`,
      { component: 'postgres', dataDir: files.data },
    );
  }
}

async function query<T extends pg.QueryResultRow>(s: StackSettings, database: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult<T>> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: s.pgPort,
    user: 'postgres',
    password: devPostgresPassword(s),
    database,
    connectionTimeoutMillis: 3000,
  });
  await client.connect();
  try {
    return await client.query<T>(sql, params);
  } finally {
    await client.end();
  }
}

async function ensureDatabase(s: StackSettings): Promise<void> {
  const found = await query(s, 'postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE_NAME]);
  if (found.rowCount) return;
  try {
    await query(s, 'postgres', `CREATE DATABASE ${DATABASE_NAME}`);
  } catch (err) {
    // 42P04 duplicate_database: another process created it between our check and our create.
    if ((err as { code?: string }).code !== '42P04') throw err;
  }
}

/**
 * A cluster made before passwords (initdb --auth=trust) is moved over on its next start: the role
 * gets the password, pg_hba.conf is replaced and reloaded. Idempotent; a no-op on new clusters.
 */
async function requirePassword(s: StackSettings, user: { uid?: number; gid?: number }): Promise<void> {
  const hba = path.join(postgresFiles(s).data, 'pg_hba.conf');
  if (!/^\s*(local|host)\S*\s.*\btrust\b/m.test(fs.readFileSync(hba, 'utf8'))) return;
  const pw = devPostgresPassword(s);
  await query(s, 'postgres', `ALTER ROLE postgres PASSWORD '${pw.replaceAll("'", "''")}'`);
  fs.writeFileSync(hba, HBA_CONF);
  if (user.uid !== undefined && user.gid !== undefined) fs.chownSync(hba, user.uid, user.gid);
  await query(s, 'postgres', 'SELECT pg_reload_conf()');
}

/**
 * Waits until the pid in a left-over postmaster.pid is out of the process table. postgres itself
 * refuses to start ("lock file postmaster.pid already exists") while that pid answers kill(0),
 * which a zombie does: a postmaster this same process spawned and SIGKILLed stays one until Node
 * reaps it, and CI under load 17 started the new one first. Anything else is postgres' own call.
 */
async function awaitOldPostmasterReaped(pidFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]?.trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || isAlive(pid)) return;
  await waitUntil(async () => !fs.existsSync(`/proc/${pid}`), 10_000, 50);
}

export const postgres: Component = {
  name: 'postgres',

  url: (s) => devDatabaseUrl(s, DATABASE_NAME),

  // postgres maintains postmaster.pid itself and handles a stale one on start, so don't delete it.
  // The postmaster keeps its original command line, which names our data dir.
  ownPid: (s) => livePidFromFile(postgresFiles(s).pidFile, postgresFiles(s).data, false),

  async health(s) {
    await query(s, 'postgres', 'SELECT 1');
  },

  status(s) {
    return processStatus(this, s, [s.pgPort]);
  },

  async start(s) {
    const files = postgresFiles(s);
    await assertPortsFree('postgres', [{ port: s.pgPort, role: 'SQL' }]);
    const bin = postgresBinDir();
    const user = serverUser();
    prepareDirs(s, user);
    initdb(s, bin, user);
    await awaitOldPostmasterReaped(files.pidFile);
    const child = spawnDetached(
      path.join(bin, 'postgres'),
      ['-D', files.data, '-p', String(s.pgPort), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${files.socketDir}`],
      { logFile: files.log, cwd: files.dir, uid: user.uid, gid: user.gid },
    );
    await waitHealthy(this, s, { logFile: files.log, exited: child.exited, alive: () => child.pid > 0 && isAlive(child.pid) });
    await requirePassword(s, user);
    await ensureDatabase(s);
  },

  async stop(s) {
    const pid = this.ownPid(s);
    if (pid === undefined) return;
    // SIGINT = fast shutdown: does not wait for clients (other engineers' pools) to disconnect.
    await signalAndWait(pid, 'SIGINT', { group: true, timeoutMs: 30_000, escalate: true });
  },
};
