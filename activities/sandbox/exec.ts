/**
 * Running one raw `docker exec` in a sandbox container with a host-side output cap and deadline
 * (tests and tools; episode commands go through the tool server, toolServer.ts).
 */
import type { Duplex, Readable } from 'node:stream';
import type Docker from 'dockerode';
import { ErrorCodes, SandboxError } from '../../core/errors';
import { CappedBuffer, FrameDemuxer, STDERR, STDOUT } from './execStream';

export interface RawExecOptions {
  user: string;
  cwd?: string;
  /** Written to the command's stdin, then closed; a stream that errors fails the exec. */
  stdin?: string | Buffer | Readable;
  stdoutCap: number;
  stderrCap: number;
  /** Host-side deadline; when it passes the stream is dropped and `onDeadline` runs. */
  deadlineMs: number;
  onDeadline: () => Promise<void>;
}

export interface RawExecResult {
  exitCode: number;
  stdout: CappedBuffer;
  stderr: CappedBuffer;
  durationMs: number;
}

export function statusCodeOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

/** 404: the container is gone; 409: it exists but is not running (stopped, paused, dying). */
export function isGone(err: unknown): boolean {
  const code = statusCodeOf(err);
  return code === 404 || code === 409;
}

export function goneError(containerId: string, err: unknown): SandboxError {
  return new SandboxError(
    ErrorCodes.SANDBOX_GONE,
    `sandbox container ${containerId.slice(0, 12)} is gone or not running: ${(err as Error).message}`,
    { containerId },
    { cause: err },
  );
}

/** How long a failed operation waits to see its container stop: a kill's exec error can arrive before the state change. */
const GONE_WAIT_MS = 3_000;

/**
 * The SWERL_SANDBOX_GONE error for a container that is gone or stopped, polled for up to `waitMs`
 * after `cause` (an operation on it failed); undefined while it still runs (the failure was
 * something else) or when the daemon cannot say.
 */
export async function containerGone(container: Docker.Container, cause: unknown, waitMs: number = GONE_WAIT_MS): Promise<SandboxError | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const running = await container.inspect().then(
      (i) => i.State.Running && !i.State.Paused,
      (e: unknown) => (isGone(e) ? false : undefined),
    );
    if (running === false) return goneError(container.id, cause);
    if (running === undefined || Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function exitCodeOf(exec: Docker.Exec, containerId: string): Promise<number> {
  // The stream can end a moment before the daemon records the exit code.
  for (let i = 0; i < 50; i++) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `exec in ${containerId.slice(0, 12)} ended its stream but never reported an exit code`, { containerId });
}

export async function execRaw(container: Docker.Container, cmd: string[], opts: RawExecOptions): Promise<RawExecResult> {
  const started = Date.now();
  const withStdin = opts.stdin !== undefined;
  let exec: Docker.Exec;
  let stream: Duplex;
  try {
    exec = await container.exec({
      Cmd: cmd,
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: withStdin,
      Tty: false,
      User: opts.user,
      WorkingDir: opts.cwd,
    });
    stream = (await exec.start({ hijack: true, stdin: withStdin })) as Duplex;
  } catch (err) {
    if (isGone(err)) throw goneError(container.id, err);
    throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `cannot start exec in ${container.id.slice(0, 12)}: ${(err as Error).message}`, { containerId: container.id, cmd: cmd[0] }, { cause: err });
  }

  const stdout = new CappedBuffer(opts.stdoutCap);
  const stderr = new CappedBuffer(opts.stderrCap);
  const demux = new FrameDemuxer((id, payload) => (id === STDERR ? stderr : id === STDOUT ? stdout : stderr).push(payload));

  let deadlineHit = false;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      deadlineHit = true;
      stream.destroy();
      resolve();
    }, opts.deadlineMs);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      if (err && !deadlineHit) reject(new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `exec stream in ${container.id.slice(0, 12)} failed: ${err.message}`, { containerId: container.id }, { cause: err }));
      else resolve();
    };
    stream.on('data', (chunk: Buffer) => demux.push(chunk));
    stream.once('end', () => done());
    stream.once('close', () => done());
    stream.once('error', (err) => done(err));
    const stdin = opts.stdin;
    if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) stream.end(stdin);
    else if (stdin) {
      stdin.once('error', (err) => {
        stream.destroy();
        done(err);
      });
      stdin.pipe(stream);
    }
  });

  if (deadlineHit) {
    await opts.onDeadline();
    throw new SandboxError(
      ErrorCodes.SANDBOX_GONE,
      `exec in ${container.id.slice(0, 12)} did not end within ${opts.deadlineMs} ms (its in-container timeout should have fired); the container was killed`,
      { containerId: container.id, deadlineMs: opts.deadlineMs },
    );
  }
  let exitCode: number;
  try {
    exitCode = await exitCodeOf(exec, container.id);
  } catch (err) {
    if (isGone(err)) throw goneError(container.id, err);
    throw err;
  }
  return { exitCode, stdout, stderr, durationMs: Date.now() - started };
}
