/**
 * Content hashes that name our images. A tag is a promise about what is inside the image, so every
 * input that changes the image must change the hash, and nothing else (mtimes, paths on this host) may.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** sha256 over length-prefixed parts, so that ("ab","c") and ("a","bc") hash differently. */
export function hashParts(parts: ReadonlyArray<string | Buffer>): string {
  const h = createHash('sha256');
  for (const part of parts) {
    const buf = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    h.update(`${buf.length}:`);
    h.update(buf);
  }
  return h.digest('hex');
}

/** The first 12 hex digits: short enough for a tag, long enough not to collide in one cache. */
export function shortHash(hex: string): string {
  return hex.slice(0, 12);
}

/**
 * Hash of a directory tree: relative paths, executable bits, symlink targets and file contents,
 * visited in sorted order, skipping names `ignore` rejects. A missing directory hashes like an empty one.
 */
export function hashTree(root: string, ignore: (name: string) => boolean = () => false): string {
  const parts: Array<string | Buffer> = [];
  const visit = (rel: string): void => {
    const abs = rel ? join(root, rel) : root;
    for (const name of readdirSync(abs).sort()) {
      if (ignore(name)) continue;
      const childRel = rel ? `${rel}/${name}` : name;
      const childAbs = join(root, childRel);
      const st = lstatSync(childAbs);
      if (st.isSymbolicLink()) {
        parts.push(`L ${childRel}`, readlinkSync(childAbs));
      } else if (st.isDirectory()) {
        parts.push(`D ${childRel}`);
        visit(childRel);
      } else if (st.isFile()) {
        parts.push(`F ${childRel} ${(st.mode & 0o111) !== 0 ? 'x' : '-'}`, readFileSync(childAbs));
      }
    }
  };
  if (existsSync(root)) visit('');
  return hashParts(parts);
}
