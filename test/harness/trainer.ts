/**
 * The real Python trainer worker (trainer/swerl_trainer/worker.py) in its own OS process, so that
 * fault tests can SIGKILL it mid-step and start a fresh one on the same checkpoints root, as a
 * crashed trainer host and its supervisor would.
 *
 * Also what such tests read from the trainer itself rather than from swerl's database: its ledger
 * (through the trainer's own Ledger class, so the test sees exactly what the worker sees) and
 * whether an attempt of a step is in progress. The latter is the per-step file lock that run_step
 * holds from loading the base checkpoint until the ledger row is recorded: observable, unlike the
 * step's heartbeat details, which the Python SDK throttles to 80% of the heartbeat timeout.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import type { LedgerRow } from '../../activities/trainer/contract';

const ROOT = path.join(__dirname, '..', '..');
export const TRAINER_DIR = path.join(ROOT, 'trainer');
export const TRAINER_PYTHON = path.join(TRAINER_DIR, '.venv', 'bin', 'python');
/** Importing torch on a loaded 2-core machine takes a while. */
const READY_MS = 180_000;
const STOP_MS = 15_000;

export interface TrainerWorkerOptions {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  /** Checkpoints root; the ledger and the step locks live there too. */
  checkpoints: string;
  /** Id of the seeded base policy the worker creates under the root if it is missing. */
  baseId: string;
  /** Where load_policy tells a policy server to hot-reload. */
  policyUrl?: string;
  preset?: 'tiny' | 'test';
  maxSeqLen?: number;
  /** torch CPU threads: 1 leaves a core to the sandboxes and makes a step long enough to catch. */
  threads?: number;
  /** Extra environment for the worker process (e.g. SWERL_TEMPORAL_TLS_*). */
  env?: Record<string, string>;
}

export interface TrainerWorker {
  /** The pid of the running worker (changes with every start). */
  readonly pid: number | undefined;
  /** Pids of every worker process started so far, in order. */
  readonly pids: readonly number[];
  readonly logFile: string;
  /** Starts (or restarts) the worker and resolves once it prints its `worker_ready` line. */
  start(): Promise<void>;
  /** Signals the worker's process group and waits until it is gone (no-op if it is not running). */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** SIGTERM (graceful shutdown), SIGKILL if it is still there after 15 s. */
  stop(): Promise<void>;
}

export function trainerWorker(name: string, opts: TrainerWorkerOptions): TrainerWorker {
  if (!existsSync(TRAINER_PYTHON)) throw new Error(`the trainer's venv is missing (${TRAINER_PYTHON}): run \`bash scripts/bootstrap.sh\``);
  const logDir = path.join(ROOT, '.swerl', 'test-logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${name}-${Date.now()}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const pids: number[] = [];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  const args = [
    '-m',
    'swerl_trainer.worker',
    ...['--address', opts.temporalAddress, '--namespace', opts.namespace, '--task-queue', opts.taskQueue],
    ...['--checkpoints', opts.checkpoints, '--init-base', opts.baseId, '--preset', opts.preset ?? 'tiny'],
    ...['--threads', String(opts.threads ?? 1)],
    ...(opts.maxSeqLen ? ['--max-seq-len', String(opts.maxSeqLen)] : []),
    ...(opts.policyUrl ? ['--policy-url', opts.policyUrl] : []),
  ];

  const kill = async (signal: NodeJS.Signals) => {
    if (!running()) return;
    // Its own process group (detached): the signal reaches anything the worker forked as well.
    process.kill(-child!.pid!, signal);
    await exited;
  };

  return {
    get pid() {
      return running() ? child!.pid : undefined;
    },
    pids,
    logFile,
    async start() {
      if (running()) throw new Error(`trainer worker ${name} is already running (pid ${child!.pid})`);
      const proc = spawn(TRAINER_PYTHON, args, { cwd: TRAINER_DIR, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1', ...opts.env } });
      child = proc;
      exited = new Promise((resolve) => proc.once('exit', () => resolve()));
      log.write(`--- start ${new Date().toISOString()}: ${TRAINER_PYTHON} ${args.join(' ')}\n`);
      proc.stderr!.on('data', (b: Buffer) => log.write(b));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`trainer worker ${name} not ready in ${READY_MS / 1000} s; log: ${logFile}`)), READY_MS);
        readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
          log.write(`${line}\n`);
          if (line.includes('"worker_ready"')) {
            clearTimeout(timer);
            resolve();
          }
        });
        proc.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`trainer worker ${name} exited (${code ?? signal}) before it was ready; log: ${logFile}`));
        });
      });
      pids.push(proc.pid!);
    },
    kill,
    async stop() {
      if (!running()) return;
      const done = exited;
      const escalate = setTimeout(() => void kill('SIGKILL'), STOP_MS);
      await kill('SIGTERM');
      await done;
      clearTimeout(escalate);
    },
  };
}

/** Where run_step takes its per-step lock (trainer/swerl_trainer/steps.py `_step_lock`). */
export function stepLockFile(checkpoints: string, checkpointId: string): string {
  return path.join(checkpoints, '.locks', `${checkpointId.replaceAll('/', '--')}.lock`);
}

/**
 * True while some trainer process holds the step's lock, i.e. an attempt of that step is loading,
 * training or writing its checkpoint and has not recorded its ledger row yet. The probe takes the
 * lock for an instant when it is free; a trainer that asks for it then just waits that instant.
 */
export function stepAttemptInProgress(checkpoints: string, checkpointId: string): boolean {
  const file = stepLockFile(checkpoints, checkpointId);
  if (!existsSync(file)) return false;
  const HELD = 75; // flock -E: the exit code when the lock is taken
  const probe = spawnSync('flock', ['--nonblock', '--conflict-exit-code', String(HELD), file, 'true']);
  if (probe.error) throw probe.error;
  return probe.status === HELD;
}

const LEDGER_DUMP = 'import json, sys\nfrom pathlib import Path\nfrom swerl_trainer.ledger import Ledger\nprint(json.dumps(Ledger(Path(sys.argv[1])).rows(sys.argv[2])))';

/** The trainer's own ledger rows of one run, in the order they were recorded. */
export async function readTrainerLedger(checkpoints: string, runId: string): Promise<LedgerRow[]> {
  const { stdout } = await promisify(execFile)(TRAINER_PYTHON, ['-c', LEDGER_DUMP, checkpoints, runId], { cwd: TRAINER_DIR });
  return JSON.parse(stdout) as LedgerRow[];
}
