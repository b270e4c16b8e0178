/**
 * The pure parts of reading a docker exec stream, with hand-made frames: headers split across
 * chunks, interleaved streams, and the cap that keeps the host's memory bounded. (Pure: no Docker;
 * it lives next to the sandbox tests it supports.)
 */
import { describe, expect, it } from 'vitest';
import { CappedBuffer, FrameDemuxer, parseTruncationMarker, STDERR, STDOUT, truncationMarker } from '../../activities/sandbox/execStream';
import { hashParts, shortHash } from '../../sandbox/contentHash';

function frame(stream: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('FrameDemuxer', () => {
  it('splits interleaved frames even when chunks cut headers and payloads anywhere', () => {
    const wire = Buffer.concat([frame(STDOUT, 'hello '), frame(STDERR, 'oops'), frame(STDOUT, 'world')]);
    // 14 + 12 + 13 = 39 bytes; feed in every chunk size from 1 to 39.
    for (let size = 1; size <= wire.length; size++) {
      const joined = { out: '', err: '' };
      const demux = new FrameDemuxer((id, payload) => {
        if (id === STDOUT) joined.out += payload.toString();
        else joined.err += payload.toString();
      });
      for (let off = 0; off < wire.length; off += size) demux.push(wire.subarray(off, off + size));
      expect(joined, `chunk size ${size}`).toEqual({ out: 'hello world', err: 'oops' });
    }
  });
});

describe('CappedBuffer', () => {
  it('keeps the first cap bytes and counts the rest', () => {
    const b = new CappedBuffer(5);
    b.push(Buffer.from('abc'));
    b.push(Buffer.from('defg'));
    b.push(Buffer.from('hij'));
    expect(b.toBuffer().toString()).toBe('abcde');
    expect(b.bytes).toBe(5);
    expect(b.dropped).toBe(5);
  });
});

describe('truncation marker', () => {
  it('round-trips the omitted byte count and ignores look-alikes not at the end', () => {
    expect(truncationMarker(99_934_464)).toBe('\n[... output truncated: 99934464 bytes omitted ...]\n');
    expect(parseTruncationMarker(`yyy${truncationMarker(12)}`)).toBe(12);
    expect(parseTruncationMarker(`${truncationMarker(12)}more`)).toBeUndefined();
    expect(parseTruncationMarker('plain output\n')).toBeUndefined();
  });
});

describe('content hashes', () => {
  it('length-prefixes parts so that different splits of the same bytes differ', () => {
    // Computed with `printf '2:ab1:c' | sha256sum` and `printf '1:a2:bc' | sha256sum`.
    expect(hashParts(['ab', 'c'])).toBe('430fb1b4ac43316eca81fab27a1930ab8eff8fef6a1dc7903dce44bbc2790dc5');
    expect(hashParts(['a', 'bc'])).toBe('5310a58788781ab25d5ad7c3f85035824b4eb7bdfa394e0ac2186271472b5492');
    expect(hashParts(['ab', 'c'])).not.toBe(hashParts(['a', 'bc']));
    expect(shortHash(hashParts(['ab', 'c']))).toBe('430fb1b4ac43');
  });
});
