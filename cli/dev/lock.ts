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

/** Per-file promise chain: serializes callers inside this process before they race for the file. */
const queues = new Map<string, Promise<unknown>>();

export async function withStackLock<T>(stateDir: string, fn: () => Promise<T>, timeoutMs = 300_000): Promise<T> {
  const file = path.join(stateDir, 'stack.lock');
  const previous = queues.get(file) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(async () => {
    await acquire(file, timeoutMs);
    try {
      return await fn();
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
  queues.set(file, run);
  try {
    return await run;
  } finally {
    if (queues.get(file) === run) queues.delete(file);
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
    if (!Number.isInteger(owner) || owner <= 0) {
      // Empty: another process created it and has not written its pid yet, unless that was long ago.
      if (Date.now() - mtimeMs(file) > 5_000) fs.rmSync(file, { force: true });
      await sleep(50);
      continue;
    }
    if (!isAlive(owner)) {
      // The holder died without releasing.
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

function mtimeMs(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return Date.now();
  }
}
