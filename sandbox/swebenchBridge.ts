/**
 * The official SWE-bench harness (PyPI swebench==4.1.0), called from TypeScript through a small
 * Python bridge (swebench_bridge/): one JSON request on stdin, one JSON answer on stdout. swerl
 * never retypes a spec, an eval script, a log parser or the resolution rule: it asks swebench.
 *
 * The bridge runs in its own venv under ~/.cache/swerl keyed by the hash of its requirements
 * (swebench_bridge/ensure-venv.sh, also run by scripts/bootstrap.sh); the first call in a process
 * creates it when missing and every later call reuses the same interpreter path.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { ErrorCodes, SandboxError } from '../core/errors';

const REPO_ROOT = resolve(__dirname, '..');
const ENSURE_VENV = join(REPO_ROOT, 'swebench_bridge', 'ensure-venv.sh');
/** A bridge call parses at most a test log: a minute is generous even under heavy load. */
const CALL_TIMEOUT_MS = 120_000;
/** Creating the venv downloads a few wheels from PyPI. */
const VENV_TIMEOUT_MS = 600_000;

/** A SWE-bench row as the harness reads it (the 12 fields, plus an optional install_config). */
export interface SwebenchInstance {
  instance_id: string;
  repo: string;
  version?: string;
  base_commit: string;
  test_patch: string;
  FAIL_TO_PASS: string[] | string;
  PASS_TO_PASS: string[] | string;
  environment_setup_commit?: string;
  created_at?: string;
  install_config?: Record<string, unknown>;
}

/** MAP_REPO_VERSION_TO_SPECS[repo][version] (or a line's install_config), as swebench has it. */
export interface SwebenchSpec {
  python: string;
  packages?: string;
  pip_packages?: string[];
  pre_install?: string[];
  install?: string;
  test_cmd: string | string[];
  eval_commands?: string[];
  [key: string]: unknown;
}

export interface SpecAnswer {
  spec: SwebenchSpec;
  source: string;
  swebench: string;
  parser: string | null;
  repoInstall: string | null;
}

export interface RequirementsAnswer {
  packages: string;
  requirements: string | null;
  environmentYml: string | null;
}

export interface EvalScriptAnswer {
  script: string;
  testCmd: string | string[];
  startMarker: string;
  endMarker: string;
  /** run_evaluation.GIT_APPLY_CMDS: how the official harness applies a prediction, tried in order. */
  applyCmds: string[];
}

export type TestStatus = 'PASSED' | 'FAILED' | 'SKIPPED' | 'ERROR' | 'XFAIL';

export interface GradeAnswer {
  resolved: boolean;
  /** False when the log lacks the test-output markers (or carries the harness's failure codes). */
  logFound: boolean;
  statusMap: Record<string, TestStatus>;
  report: Record<'FAIL_TO_PASS' | 'PASS_TO_PASS', { success: string[]; failure: string[] }> | null;
  parser: string | null;
  swebench: string;
}

function bridgeError(what: string, detail: string): SandboxError {
  return new SandboxError(ErrorCodes.REWARD_HARNESS_CRASHED, `swebench bridge: ${what}: ${detail}`, { what });
}

function runProcess(cmd: string, args: string[], input: string, timeoutMs: number, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env, cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    child.stdin.on('error', () => undefined); // a child that exits early closes its stdin; the exit code tells
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

let pythonPath: Promise<string> | undefined;

/** The bridge venv's python, creating the venv on first use. */
export function bridgePython(): Promise<string> {
  pythonPath ??= (async () => {
    const res = await runProcess('bash', [ENSURE_VENV], '', VENV_TIMEOUT_MS, process.env).catch((err: Error) => {
      throw bridgeError('creating its venv', err.message);
    });
    const path = res.stdout.trim().split('\n').pop() ?? '';
    if (res.code !== 0 || !path) throw bridgeError('creating its venv', `ensure-venv.sh exited ${res.code}: ${res.stderr.trim().slice(-2000)}`);
    return path;
  })();
  // A failed creation is not cached: the next call tries again.
  pythonPath.catch(() => (pythonPath = undefined));
  return pythonPath;
}

async function call<T>(command: string, request: unknown): Promise<T> {
  const python = await bridgePython();
  const env = { ...process.env, PYTHONPATH: REPO_ROOT, PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8' };
  const res = await runProcess(python, ['-m', 'swebench_bridge', command], JSON.stringify(request), CALL_TIMEOUT_MS, env).catch((err: Error) => {
    throw bridgeError(command, err.message);
  });
  let out: unknown;
  try {
    out = JSON.parse(res.stdout);
  } catch {
    throw bridgeError(command, `exit ${res.code}, no JSON answer: ${res.stderr.trim().slice(-2000) || res.stdout.slice(0, 500)}`);
  }
  if (out && typeof out === 'object' && 'error' in out) throw bridgeError(command, String((out as { error: unknown }).error));
  if (res.code !== 0) throw bridgeError(command, `exit ${res.code}: ${res.stderr.trim().slice(-2000)}`);
  return out as T;
}

export const swebench = {
  spec: (instance: SwebenchInstance): Promise<SpecAnswer> => call('spec', { instance }),
  requirements: (instance: SwebenchInstance, gitDir: string): Promise<RequirementsAnswer> => call('requirements', { instance, repoDir: gitDir }),
  evalScript: (instance: SwebenchInstance, layout: { repoDirectory: string; activate: string | null }): Promise<EvalScriptAnswer> =>
    call('eval_script', { instance, ...layout }),
  grade: (instance: SwebenchInstance, log: string): Promise<GradeAnswer> => call('grade', { instance, log }),
};
