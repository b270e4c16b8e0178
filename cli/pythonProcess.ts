/**
 * The demo's Python processes (trainer worker, policy server, pre-training): spawned from the
 * trainer's venv, their JSON event lines on stdout parsed, the tail of stderr kept for errors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { ErrorCodes, TrainerError } from '../core/errors';
import { REPO_ROOT } from './dev/settings';

export const TRAINER_DIR = path.join(REPO_ROOT, 'trainer');
export const TRAINER_PYTHON = path.join(TRAINER_DIR, '.venv', 'bin', 'python');
/** The Hugging Face path's venv (torch 2.x + transformers), made by `bash trainer/install.sh --hf`. */
export const TRAINER_HF_PYTHON = path.join(TRAINER_DIR, '.venv-hf', 'bin', 'python');
export const CHECKPOINTS_DIR = path.join(REPO_ROOT, '.swerl', 'checkpoints');

/**
 * Every Python process spawned here that has not exited yet: what a process that is stopping (the
 * demo on SIGINT/SIGTERM or at exit) ends, whether it is ready, still starting, or pre-training.
 */
const livePythonProcesses = new Map<ChildProcess, { label: string; kill(): void }>();

/** SIGTERM to every live Python process spawned here (as their own kill()); returns what they were. */
export function killPythonProcesses(): string[] {
  const killed: string[] = [];
  for (const [child, live] of livePythonProcesses) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    live.kill();
    killed.push(`${live.label} (pid ${child.pid})`);
  }
  return killed;
}

export interface PythonProcess {
  child: ChildProcess;
  /** The first event line whose `event` is the awaited one. */
  ready: Record<string, unknown>;
  kill(): void;
}

export interface SpawnOptions {
  /** e.g. `swerl_trainer.worker` */
  module: string;
  /** The interpreter (default: the native venv's, TRAINER_PYTHON). */
  python?: string;
  args: string[];
  /** Resolve when a stdout JSON line has this `event`; undefined = resolve when the process exits 0. */
  readyEvent?: string;
  readyTimeoutMs: number;
  /** Every stdout JSON event line (progress reports). */
  onEvent?: (event: Record<string, unknown>) => void;
  /** What the process is, for messages. */
  label: string;
  /** Extra environment (secrets go here, not in argv where `ps` shows them). */
  env?: Record<string, string>;
}

function parseEvent(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as unknown;
    return v && typeof v === 'object' && 'event' in v ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts `python -m <module>` and resolves once it reports `readyEvent` (or exits 0 when none is
 * given). A start failure, an early exit or a timeout rejects with TRAINER_FAILED and the last
 * stderr lines; a later unexpected exit is printed, since the run's activities surface its effect.
 */
export async function spawnPython(opts: SpawnOptions): Promise<PythonProcess> {
  const python = opts.python ?? TRAINER_PYTHON;
  if (!existsSync(python)) {
    const how = python === TRAINER_HF_PYTHON ? 'bash trainer/install.sh --hf' : 'bash scripts/bootstrap.sh';
    throw new TrainerError(ErrorCodes.STACK_DEPENDENCY_MISSING, `the trainer's venv is missing (${python}): run \`${how}\` first`, { python });
  }
  const args = ['-m', opts.module, ...opts.args];
  const child = spawn(python, args, { cwd: TRAINER_DIR, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  const stderrTail: string[] = [];
  readline.createInterface({ input: child.stderr! }).on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
  });
  let stopping = false;
  const kill = () => {
    stopping = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  livePythonProcesses.set(child, { label: opts.label, kill });
  const forget = () => livePythonProcesses.delete(child);
  child.once('exit', forget);
  child.once('error', forget);
  let readyExitListener: ((code: number | null, signal: NodeJS.Signals | null) => void) | undefined;
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let last: Record<string, unknown> = {};
    const fail = (why: string) => {
      kill();
      reject(new TrainerError(ErrorCodes.TRAINER_FAILED, `${opts.label} ${why}; its last stderr lines:\n${stderrTail.join('\n')}`, { args }));
    };
    const timer = setTimeout(() => fail(`not ready after ${opts.readyTimeoutMs / 1000}s`), opts.readyTimeoutMs);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = parseEvent(line);
      if (!event) return;
      last = event;
      opts.onEvent?.(event);
      if (opts.readyEvent && event.event === opts.readyEvent) {
        clearTimeout(timer);
        resolve(event);
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      fail(`could not start: ${err.message}`);
    });
    readyExitListener = (code, signal) => {
      clearTimeout(timer);
      if (!opts.readyEvent && code === 0) resolve(last);
      else fail(`exited early (code ${code}, signal ${signal})`);
    };
    child.once('exit', readyExitListener);
  });
  if (readyExitListener) child.off('exit', readyExitListener);
  child.once('exit', (code, signal) => {
    if (!stopping && opts.readyEvent) console.error(`${opts.label} exited (code ${code}, signal ${signal}):\n${stderrTail.join('\n')}`);
  });
  return { child, ready, kill };
}
