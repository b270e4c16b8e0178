/**
 * One stack change at a time per state dir. Several processes (the test harness, a developer's
 * `swerl dev up`, another suite) may try to start the same stack at once; without this lock two of
 * them would both see "stopped" and both spawn a Temporal on the same port.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, StackError } from '../../core/errors';
import { isAlive } from './process';

const held = new Map<string, number>();

export async function withStackLock<T>(stateDir: string, fn: () => Promise<T>, timeoutMs = 300_000): Promise<T> {
  const file = path.join(stateDir, 'stack.lock');
  // Re-entrant within one process: devUp may call startComponent's internals.
  const depth = held.get(file) ?? 0;
  if (depth === 0) await acquire(file, timeoutMs);
  held.set(file, depth + 1);
  try {
    return await fn();
  } finally {
    const left = (held.get(file) ?? 1) - 1;
    if (left === 0) {
      held.delete(file);
      fs.rmSync(file, { force: true });
    } else {
      held.set(file, left);
    }
  }
}

async function acquire(file: string, timeoutMs: number): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: number;
    try {
      owner = Number(fs.readFileSync(file, 'utf8').trim() || NaN);
    } catch {
      continue; // released between our create and our read
    }
    if (!Number.isInteger(owner) || !isAlive(owner)) {
      // The holder died without releasing; a half-written file also counts as stale.
      fs.rmSync(file, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new StackError(ErrorCodes.STACK_START_FAILED, `stack lock ${file} is held by pid ${owner} for more than ${timeoutMs} ms`, {
        lockFile: file,
        owner,
      });
    }
    await sleep(200);
  }
}
