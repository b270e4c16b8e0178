/**
 * The dev stack's Postgres password (see postgres.ts), apart from the component so that settings.ts
 * can put it in the database URL without importing the component.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCodes, StackError } from '../../core/errors';

export function passwordFile(stateDir: string): string {
  return path.join(stateDir, 'postgres', 'password');
}

/**
 * The dev stack's Postgres password: read from the state dir, or made there (random, 0600) on first
 * use. Two processes racing to make it agree: the file appears whole through link(2), which fails
 * for the loser, who then reads the winner's.
 */
export function devPostgresPassword(s: { stateDir: string }): string {
  const file = passwordFile(s.stateDir);
  const read = (): string | undefined => {
    try {
      const pw = fs.readFileSync(file, 'utf8').trim();
      return pw === '' ? undefined : pw;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  };
  const found = read();
  if (found !== undefined) return found;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  fs.writeFileSync(tmp, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  try {
    fs.linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const made = read();
  if (made === undefined) {
    throw new StackError(ErrorCodes.STACK_START_FAILED, `postgres: the password file ${file} is empty`, { component: 'postgres', file });
  }
  return made;
}

/** The URL of a database on the dev stack's Postgres, with its password. */
export function devDatabaseUrl(s: { stateDir: string; pgPort: number }, database: string): string {
  return `postgres://postgres:${encodeURIComponent(devPostgresPassword(s))}@127.0.0.1:${s.pgPort}/${database}`;
}
