/**
 * A minimal operator's supervisor for one long-running process (a swerl worker, the Python trainer
 * worker, the policy server): starts it in its own process group with its output appended to a log
 * file, waits for its readiness line, and restarts it when it exits on its own (Restart=always with
 * a short back-off). The chaos soak kills through `kill()`, which the supervisor does not count as
 * a crash; the soak restarts it itself after a seeded delay.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SupervisedSpec {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** A line of its output that says it is serving. */
  ready: RegExp;
  readyTimeoutMs: number;
  logFile: string;
}

export interface UnplannedExit {
  name: string;
  pid: number;
  atMs: number;
  how: string;
}

export class SupervisedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private expectingExit = false;
  private stopped = false;
  private restarting: Promise<void> | undefined;
  private readonly log: WriteStream;
  readonly pids: number[] = [];

  constructor(
    readonly spec: SupervisedSpec,
    private readonly onUnplannedExit: (e: UnplannedExit) => void = () => undefined,
  ) {
    mkdirSync(path.dirname(spec.logFile), { recursive: true });
    this.log = createWriteStream(spec.logFile, { flags: 'a' });
    this.log.on('error', () => undefined);
  }

  get pid(): number | undefined {
    return this.running() ? this.child!.pid : undefined;
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process and resolves once it printed its readiness line. */
  async start(): Promise<void> {
    if (this.running()) throw new Error(`${this.spec.name} is already running (pid ${this.child!.pid})`);
    this.stopped = false;
    this.expectingExit = false;
    const s = this.spec;
    this.log.write(`\n--- ${new Date().toISOString()} start ${s.command} ${s.args.join(' ')}\n`);
    const proc = spawn(s.command, s.args, { cwd: s.cwd, env: s.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = proc;
    proc.on('error', (err) => this.log.write(`spawn error: ${err.message}\n`));
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => {
        fail(new Error(`${s.name} printed no readiness line in ${s.readyTimeoutMs / 1000} s; log: ${s.logFile}`));
      }, s.readyTimeoutMs);
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          process.kill(-proc.pid!, 'SIGKILL');
        } catch {
          // gone already
        }
        reject(err);
      };
      const onData = (chunk: Buffer) => {
        this.log.write(chunk);
        if (settled) return;
        seen = (seen + chunk.toString()).slice(-8192);
        if (s.ready.test(seen)) {
          settled = true;
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', onData);
      proc.stdout!.on('error', () => undefined);
      proc.stderr!.on('error', () => undefined);
      proc.once('exit', (code, signal) => fail(new Error(`${s.name} exited (${code ?? signal}) before it was ready; log: ${s.logFile}`)));
    });
    this.pids.push(proc.pid!);
    proc.once('exit', (code, signal) => {
      if (this.expectingExit || this.stopped || this.child !== proc) return;
      this.onUnplannedExit({ name: s.name, pid: proc.pid!, atMs: Date.now(), how: signal ? `killed by ${signal}` : `exit code ${code}` });
      this.restarting = this.restartAfterCrash();
    });
  }

  /** Restart=always: back-off 2 s, then up to 10 attempts 5 s apart. */
  private async restartAfterCrash(): Promise<void> {
    for (let attempt = 0; attempt < 10 && !this.stopped; attempt++) {
      await sleep(attempt === 0 ? 2_000 : 5_000);
      if (this.stopped || this.running()) return;
      try {
        await this.start();
        return;
      } catch (err) {
        this.log.write(`supervisor: restart attempt ${attempt + 1} failed: ${(err as Error).message}\n`);
      }
    }
  }

  /** Waits for a restart the supervisor began after a crash, if any. */
  async settled(): Promise<void> {
    await this.restarting;
  }

  /** Signals the whole process group and waits until the process is gone. Returns the pid killed. */
  async kill(signal: NodeJS.Signals): Promise<number | undefined> {
    await this.settled();
    if (!this.running()) return undefined;
    const pid = this.child!.pid!;
    this.expectingExit = true;
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
    await this.exited;
    return pid;
  }

  /** Graceful stop (SIGTERM, SIGKILL after `graceMs`); the supervisor stops restarting it. */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopped = true;
    await this.settled();
    if (this.running()) {
      const escalate = setTimeout(() => void this.kill('SIGKILL'), graceMs);
      await this.kill('SIGTERM');
      clearTimeout(escalate);
    }
    await new Promise<void>((resolve) => this.log.end(() => resolve()));
  }
}
