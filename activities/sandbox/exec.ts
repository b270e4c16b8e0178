/**
 * Running one process in a sandbox container. Limits are enforced inside the container (output by
 * `head -c`, time by `timeout -s KILL`), so a runaway command costs the container its CPU quota,
 * never the host its memory; the host keeps a second, looser cap and a deadline in case the
 * container misbehaves.
 */
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { ErrorCodes, SandboxError } from '../../core/errors';
import { CappedBuffer, FrameDemuxer, STDERR, STDOUT } from './execStream';

export interface RawExecOptions {
  user: string;
  cwd?: string;
  stdin?: string | Buffer;
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
    if (withStdin) stream.end(opts.stdin);
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

/**
 * The wrapper every tool command runs under ($1 byte limit, $2 timeout seconds, $3 command).
 * - Output goes through a FIFO to a background `head -c` (unbuffered, so what it read is on disk
 *   even if it never sees EOF); `wc -c` counts what it drops, so the marker says how much was lost
 *   while the host receives at most the limit. The reader writes to a file the wrapper prints at
 *   the end, so nothing but the wrapper holds the exec's stdout.
 * - `timeout` (without --foreground) puts the command in its own process group. When the command
 *   returns, whatever it left running in that group is killed: a background job would keep eating
 *   the pids budget (a fork bomb returns at once and leaves its children behind), hold the output
 *   open, and make a replay of the episode's commands diverge from the original.
 * - `timeout -v` reports a kill on the wrapper's stderr, which the command cannot write to: that is
 *   how the host tells a timeout from a command that exited 137 by itself.
 * - A background job's stdin is /dev/null unless redirected: fd 3 carries the exec's stdin over.
 * - Waiting happens with `read -t` on a private FIFO (fd 4), not `sleep`: after a fork bomb the pids
 *   budget is full until PID 1 has reaped the dead, and a fork would stall in bash's retry backoff.
 *   Killing the group again until `kill` finds nobody (zombies included) waits out that reaping.
 */
export const EXEC_WRAPPER = `
exec 3<&0
out=$(mktemp /tmp/.swerl-out.XXXXXXXX) && fifo="$out.fifo" && mkfifo -m 600 "$fifo" "$out.tick" && exec 4<>"$out.tick" || { echo "swerl: cannot create output files in /tmp" >&2; exit 125; }
nap() { read -r -t "$1" -u 4; }
{ stdbuf -o0 head -c "$1"; n=$(wc -c); if [ "$n" -gt 0 ]; then printf '\\n[... output truncated: %s bytes omitted ...]\\n' "$n"; fi; } < "$fifo" > "$out" 2>/dev/null &
reader=$!
timeout -v -s KILL "$2" bash -c "exec 2>&1
$3" <&3 > "$fifo" 3<&- 4<&- &
cmd=$!
wait "$cmd"
rc=$?
for ((i = 0; i < 200; i++)); do kill -KILL -- "-$cmd" 2>/dev/null || break; nap 0.01; done
for ((i = 0; i < 100; i++)); do kill -0 "$reader" 2>/dev/null || break; nap 0.01; done
cat "$out"
rm -f "$out" "$fifo" "$out.tick"
exit "$rc"
`;

export const TIMEOUT_NOTICE = 'timeout: sending signal';
