/**
 * A swerl worker in its own OS process, so that fault tests can SIGKILL it mid-activity and start
 * a fresh one, exactly as a crashed machine and its supervisor would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

export interface WorkerProcessOptions {
  role: 'orchestration' | 'rollout' | 'all';
  env: Record<string, string>;
  hostId?: string;
  /** Readiness: a line of the worker's log that says it polls. */
  readyPattern?: RegExp;
}

export interface WorkerProcess {
  readonly pid: number | undefined;
  /** Starts (or restarts) the process and waits until it polls its queues. */
  start(): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
  logFile: string;
}

export function workerProcess(name: string, opts: WorkerProcessOptions): WorkerProcess {
  const logDir = path.join(ROOT, '.swerl', 'test-logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${name}-${Date.now()}.log`);
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  return {
    get pid() {
      return child?.pid;
    },
    logFile,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) throw new Error(`${name} is already running`);
      const args = ['tsx', 'cli/main.ts', 'worker', '--role', opts.role, ...(opts.hostId ? ['--host-id', opts.hostId] : [])];
      child = spawn('npx', args, { cwd: ROOT, env: { ...process.env, SWERL_LOG_LEVEL: 'info', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const log = createWriteStream(logFile, { flags: 'a' });
      const proc = child;
      exited = new Promise((resolve) => proc.once('exit', () => resolve()));
      const ready = opts.readyPattern ?? /worker polling/;
      await new Promise<void>((resolve, reject) => {
        let seen = '';
        const timer = setTimeout(() => reject(new Error(`${name} not ready in 60 s; log: ${logFile}`)), 60_000);
        const onData = (chunk: Buffer) => {
          log.write(chunk);
          seen = (seen + chunk.toString()).slice(-4096);
          if (ready.test(seen)) {
            clearTimeout(timer);
            resolve();
          }
        };
        proc.stdout!.on('data', onData);
        proc.stderr!.on('data', onData);
        proc.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${code ?? signal}) before it was ready; log: ${logFile}`));
        });
      });
    },
    async kill(signal) {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      // npx → tsx → node: the worker is a grandchild. The child leads its own process group
      // (detached), so signalling the group reaches every process of the worker at once.
      process.kill(-child.pid!, signal);
      await exited;
    },
  };
}
