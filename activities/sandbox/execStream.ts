/**
 * Reading a non-TTY `docker exec` stream without ever holding more than a cap in memory. Docker
 * multiplexes stdout and stderr into frames: an 8-byte header (stream id, 3 zero bytes, big-endian
 * payload length) followed by the payload.
 */

/** Keeps the first `cap` bytes written to it and counts the rest. */
export class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  dropped = 0;

  constructor(readonly cap: number) {}

  push(chunk: Buffer): void {
    const room = this.cap - this.kept;
    if (room >= chunk.length) {
      this.chunks.push(chunk);
      this.kept += chunk.length;
      return;
    }
    if (room > 0) {
      this.chunks.push(chunk.subarray(0, room));
      this.kept += room;
    }
    this.dropped += chunk.length - Math.max(room, 0);
  }

  get bytes(): number {
    return this.kept;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }
}

/** Incremental demultiplexer: feed it raw chunks, it calls back per payload slice. */
export class FrameDemuxer {
  private header = Buffer.alloc(8);
  private headerFill = 0;
  private remaining = 0;
  private streamId = 0;

  constructor(private readonly onPayload: (streamId: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.remaining === 0) {
        const take = Math.min(8 - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + take);
        this.headerFill += take;
        off += take;
        if (this.headerFill < 8) return;
        this.streamId = this.header[0] as number;
        this.remaining = this.header.readUInt32BE(4);
        this.headerFill = 0;
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - off);
      this.onPayload(this.streamId, chunk.subarray(off, off + take));
      this.remaining -= take;
      off += take;
    }
  }
}

export const STDOUT = 1;
export const STDERR = 2;

export function truncationMarker(omittedBytes: number): string {
  return `\n[... output truncated: ${omittedBytes} bytes omitted ...]\n`;
}

const MARKER_RE = /\n\[\.\.\. output truncated: (\d+) bytes omitted \.\.\.\]\n$/;

/** Whether `output` ends with our marker, and how many bytes it says were dropped. */
export function parseTruncationMarker(output: string): number | undefined {
  const m = MARKER_RE.exec(output);
  return m ? Number(m[1]) : undefined;
}
