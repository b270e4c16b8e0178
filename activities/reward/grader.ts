/**
 * Runs pytest in the reward container so that what the agent's code can do ends in a verdict, not
 * a stall, and what judges it stays out of its reach:
 * - No report file: the grader plugin (grader_plugin.py, installed by root under a per-run module
 *   name, so no file in /repo can shadow it) keeps the exec's stdout for its frames and sends every
 *   other byte to a log file. There is no path in argv, and no file the agent's uid can write, that
 *   turns into a verdict.
 * - The exec is plain (no shell wrapper writing through agent-owned temp files): `timeout -v -s KILL`
 *   bounds it, and its notice arrives on stderr, which the code under test no longer holds.
 * - After each run every process of the agent's uid except the container's main process is killed,
 *   so nothing left behind by the code under test disturbs a rerun or the log read afterwards.
 * - A run whose plugin started but whose session never finished was ended by the code under test
 *   (os._exit, a signal, the OOM killer): the caller scores that as `tests_crashed`. A run whose
 *   plugin never started is the harness's fault (pytest missing, container broken).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { execRaw, type RawExecResult } from '../sandbox/exec';
import type { Sandbox } from '../sandbox';
import { parseGraderReport, type GraderReport } from './graderReport';

const PLUGIN_SOURCE = readFileSync(join(__dirname, 'grader_plugin.py'), 'utf8');
const GRADER_DIR = '/opt/swerl-grader';
/** The frames of one run: a few hundred bytes per test phase. */
const REPORT_CAP_BYTES = 16 * 1024 * 1024;
const LOG_TAIL_BYTES = 4000;
const HOST_GRACE_MS = 30_000;

export interface GradedRun extends GraderReport {
  /** The exit code of the exec (pytest's, or 137 when `timeout` killed it). */
  exitCode: number;
  timedOut: boolean;
  /** The report stream was larger than any honest report (the code under test wrote into it). */
  flooded: boolean;
  /** The tail of what pytest and the code under test printed. */
  output: string;
}

export interface Grader {
  run(nodeFiles: string[], ids: string[], tag: string, timeoutSec: number): Promise<GradedRun>;
}

function raw(docker: Docker, sb: Sandbox, cmd: string[], opts: { user: string; stdin?: string; timeoutSec: number; stdoutCap?: number }): Promise<RawExecResult> {
  const container = docker.getContainer(sb.containerId);
  return execRaw(container, cmd, {
    user: opts.user,
    cwd: '/repo',
    stdin: opts.stdin,
    stdoutCap: opts.stdoutCap ?? 64 * 1024,
    stderrCap: 16 * 1024,
    deadlineMs: opts.timeoutSec * 1000 + HOST_GRACE_MS,
    onDeadline: () => container.kill().then(() => undefined, () => undefined),
  });
}

const text = (r: RawExecResult, which: 'stdout' | 'stderr'): string => r[which].toBuffer().toString('utf8');

/**
 * Installs the plugin (as root, in a directory the agent's uid cannot write) and notes the
 * container's main process, before any of the agent's code has run in the container.
 */
export async function installGrader(docker: Docker, sb: Sandbox, user: string): Promise<Grader> {
  const module = `swerl_grader_${randomUUID().replace(/-/g, '')}`;
  const install = await raw(docker, sb, ['sh', '-c', `set -e; mkdir -p ${GRADER_DIR}; chmod 755 ${GRADER_DIR}; cat > ${GRADER_DIR}/${module}.py; chmod 644 ${GRADER_DIR}/${module}.py`],
    { user: '0:0', stdin: PLUGIN_SOURCE, timeoutSec: 60 });
  if (install.exitCode !== 0) throw new Error(`cannot install the grader plugin: ${text(install, 'stderr').trim()}`);
  // PID 1 (docker-init) and its first child run as the agent's uid: only that uid may read its children.
  const probe = await raw(docker, sb, ['sh', '-c', 'read -r main _ < /proc/1/task/1/children; echo "$main"'], { user, timeoutSec: 60 });
  const mainPid = text(probe, 'stdout').trim();
  if (!/^\d+$/.test(mainPid)) throw new Error(`cannot find the container's main process (got ${JSON.stringify(mainPid)})`);

  // Runs as the agent's uid (it can only signal its own processes); skips PID 1, the main process and itself.
  const killLeftovers = `for round in 1 2 3; do for d in /proc/[0-9]*; do p=\${d#/proc/}; ` +
    `if [ "$p" != 1 ] && [ "$p" != ${mainPid} ] && [ "$p" != $$ ]; then kill -9 "$p" 2>/dev/null; fi; done; done; exit 0`;

  return {
    async run(nodeFiles, ids, tag, timeoutSec) {
      const log = `/tmp/swerl-reward/pytest-${tag}.log`;
      const res = await raw(docker, sb, [
        'env', `PYTHONPATH=${GRADER_DIR}`, `SWERL_GRADER_LOG=${log}`, 'PYTHONDONTWRITEBYTECODE=1',
        'timeout', '-v', '-s', 'KILL', String(timeoutSec),
        'python3', '-m', 'pytest', '-p', module, '-p', 'no:cacheprovider', '--continue-on-collection-errors', '-q', ...nodeFiles,
      ], { user, timeoutSec, stdoutCap: REPORT_CAP_BYTES });
      const kill = await raw(docker, sb, ['bash', '-c', killLeftovers], { user, timeoutSec: 60 });
      if (kill.exitCode !== 0) throw new Error(`cannot stop the test run's leftover processes: ${text(kill, 'stderr').trim()}`);
      const report = parseGraderReport(text(res, 'stdout'), ids);
      const stderr = text(res, 'stderr');
      const tailRes = await raw(docker, sb, ['sh', '-c', `timeout -s KILL 20 tail -c ${LOG_TAIL_BYTES} ${log} 2>/dev/null; exit 0`], { user, timeoutSec: 60 });
      const logTail = text(tailRes, 'stdout');
      return {
        ...report,
        exitCode: res.exitCode,
        timedOut: stderr.includes('timeout: sending signal'),
        flooded: res.stdout.dropped > 0,
        // Before the plugin took over, pytest's own errors (e.g. "No module named pytest") went to stderr.
        output: report.started ? logTail : `${stderr}${logTail}`,
      };
    },
  };
}
