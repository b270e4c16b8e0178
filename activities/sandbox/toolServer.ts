/**
 * The host's side of the sandbox tool server (sandbox/tools/lib/swerl_tools/server.py): one attached
 * `docker exec` per (process, container) running the server as root, spoken to in framed JSON (4-byte
 * big-endian length + UTF-8 JSON) over the exec's stdin and stdout. Requests are serialised: one
 * command at a time per sandbox, as an episode issues them.
 *
 * Failure model: if the stream breaks mid-request (the server or the container died) the request
 * fails with SWERL_SANDBOX_GONE: the command's effect is unknown, so the caller rebuilds the sandbox
 * by replay (bounded by sandbox.maxRebuilds). A server that cannot start on a running container is
 * SWERL_SANDBOX_EXEC_FAILED. The next request starts a fresh server on a still-running container.
 */
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { ErrorCodes, SandboxError } from '../../core/errors';
import { FrameDemuxer, STDERR, STDOUT } from './execStream';
import { containerGone, goneError, isGone } from './exec';

const SERVER_CMD = [
  'python3',
  '-c',
  'import sys; sys.dont_write_bytecode = True; sys.path.insert(0, "/opt/swerl/tools/lib"); from swerl_tools.server import main; sys.exit(main())',
];
/** Starting python under a loaded host can take a while; a broken image fails long before this. */
const START_DEADLINE_MS = 120_000;
const STDERR_KEEP = 16 * 1024;
/** A frame above this is a protocol error, not something to buffer. */
const MAX_FRAME = 96 * 1024 * 1024;

export interface ServerReply {
  id: number;
  ok: boolean;
  error?: string;
  [key: string]: unknown;
}

interface Pending {
  id: number;
  resolve: (r: ServerReply) => void;
  reject: (e: Error) => void;
}

/** Reassembles length-prefixed frames from the server's stdout payload. */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (body: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32BE(0);
      if (n > MAX_FRAME) throw new Error(`tool server sent a ${n}-byte frame`);
      if (this.buf.length < 4 + n) return;
      const body = this.buf.subarray(4, 4 + n);
      this.buf = this.buf.subarray(4 + n);
      this.onFrame(body);
    }
  }
}

export class ToolServerClient {
  private stream?: Duplex;
  private starting?: Promise<Duplex>;
  private pending?: Pending;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private stderrTail = '';
  /** Servers started over this client's life (1 unless one died): tests and the bench read it. */
  starts = 0;

  constructor(private readonly container: Docker.Container) {}

  /** Sends one request and waits for its reply; requests run one at a time. */
  request(req: Record<string, unknown>, deadlineMs: number, onDeadline: () => Promise<void>): Promise<ServerReply> {
    const run = this.queue.then(
      () => this.send(req, deadlineMs, onDeadline),
      () => this.send(req, deadlineMs, onDeadline),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Closes the stream: the server sees EOF and exits. Never throws. */
  close(): void {
    const s = this.stream;
    this.stream = undefined;
    this.starting = undefined;
    if (s) {
      try {
        s.end();
        s.destroy();
      } catch {
        // already closed
      }
    }
  }

  private async send(req: Record<string, unknown>, deadlineMs: number, onDeadline: () => Promise<void>): Promise<ServerReply> {
    const stream = await this.ensure();
    const id = this.nextId++;
    const body = Buffer.from(JSON.stringify({ ...req, id }), 'utf8');
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length, 0);
    let timer: NodeJS.Timeout | undefined;
    let deadlineHit = false;
    try {
      return await new Promise<ServerReply>((resolve, reject) => {
        this.pending = { id, resolve, reject };
        timer = setTimeout(() => {
          deadlineHit = true;
          reject(new Error('deadline'));
        }, deadlineMs);
        stream.write(Buffer.concat([head, body]), (err) => {
          if (err) reject(err);
        });
      });
    } catch (err) {
      this.close();
      if (deadlineHit) {
        await onDeadline().catch(() => undefined);
        throw new SandboxError(
          ErrorCodes.SANDBOX_GONE,
          `tool server in ${this.container.id.slice(0, 12)} did not answer within ${deadlineMs} ms (its own timeout should have fired); the container was killed`,
          { containerId: this.container.id, deadlineMs },
        );
      }
      // The command's effect is unknown (it may have run, or half-run): only a rebuild by replay
      // gives a known sandbox again, so this is a lost sandbox whatever the container's state.
      const lost = await this.lostError(err as Error);
      throw lost.code === ErrorCodes.SANDBOX_GONE
        ? lost
        : new SandboxError(ErrorCodes.SANDBOX_GONE, `${lost.message} (mid-request: the sandbox must be rebuilt)`, { containerId: this.container.id }, { cause: err });
    } finally {
      clearTimeout(timer);
      this.pending = undefined;
    }
  }

  /** What a broken stream means: the container is gone (rebuild) or only the server died. */
  private async lostError(err: Error): Promise<SandboxError> {
    if (err instanceof SandboxError) return err;
    const gone = await containerGone(this.container, err);
    if (gone) return gone;
    const detail = `${err.message}${this.stderrTail ? `; server stderr: ${this.stderrTail.slice(-2000)}` : ''}`;
    return new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `tool server stream in ${this.container.id.slice(0, 12)} broke: ${detail}`, { containerId: this.container.id }, { cause: err });
  }

  private ensure(): Promise<Duplex> {
    if (this.stream && !this.stream.destroyed) return Promise.resolve(this.stream);
    if (!this.starting) {
      this.starting = this.start().catch((err: unknown) => {
        this.starting = undefined;
        throw err;
      });
    }
    return this.starting;
  }

  private async start(): Promise<Duplex> {
    this.starts += 1;
    this.stderrTail = '';
    let stream: Duplex;
    try {
      const exec = await this.container.exec({ Cmd: SERVER_CMD, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false, User: '0:0', WorkingDir: '/' });
      stream = (await exec.start({ hijack: true, stdin: true })) as Duplex;
    } catch (err) {
      if (isGone(err)) throw goneError(this.container.id, err);
      throw new SandboxError(ErrorCodes.SANDBOX_EXEC_FAILED, `cannot start the tool server in ${this.container.id.slice(0, 12)}: ${(err as Error).message}`, { containerId: this.container.id }, { cause: err });
    }
    let ready: ((s: Duplex) => void) | undefined;
    let failStart: ((e: Error) => void) | undefined;
    const started = new Promise<Duplex>((resolve, reject) => {
      ready = resolve;
      failStart = reject;
    });
    const fail = (err: Error): void => {
      if (this.stream === stream) this.stream = undefined;
      const p = this.pending;
      this.pending = undefined;
      p?.reject(err);
      failStart?.(err);
      failStart = undefined;
    };
    const frames = new FrameReader((body) => {
      let msg: ServerReply;
      try {
        msg = JSON.parse(body.toString('utf8')) as ServerReply;
      } catch (err) {
        fail(new Error(`unreadable frame from the tool server: ${(err as Error).message}`));
        stream.destroy();
        return;
      }
      if (msg.id === 0) {
        ready?.(stream);
        ready = undefined;
        failStart = undefined;
        return;
      }
      const p = this.pending;
      if (p && p.id === msg.id) {
        this.pending = undefined;
        p.resolve(msg);
      }
    });
    const demux = new FrameDemuxer((sid, payload) => {
      if (sid === STDOUT) {
        try {
          frames.push(payload);
        } catch (err) {
          fail(err as Error);
          stream.destroy();
        }
      } else if (sid === STDERR) {
        this.stderrTail = (this.stderrTail + payload.toString('utf8')).slice(-STDERR_KEEP);
      }
    });
    stream.on('data', (chunk: Buffer) => demux.push(chunk));
    stream.on('error', (err: Error) => fail(err));
    stream.on('end', () => fail(new Error('the tool server closed its stream')));
    stream.on('close', () => fail(new Error('the tool server stream closed')));
    const timer = setTimeout(() => {
      fail(new Error(`the tool server did not start within ${START_DEADLINE_MS} ms`));
      stream.destroy();
    }, START_DEADLINE_MS);
    try {
      this.stream = await started;
      return this.stream;
    } catch (err) {
      stream.destroy();
      throw await this.lostError(new Error(`tool server failed to start: ${(err as Error).message}`));
    } finally {
      clearTimeout(timer);
    }
  }
}
