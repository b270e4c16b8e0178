import { describe, expect, it } from 'vitest';
import { mapWithWindow } from '../../workflows/boundedWindow';

/** A job per item that the test finishes by hand, so the order of events is exact. */
function manualJobs<T>() {
  const pending = new Map<number, { resolve: (v: T) => void; reject: (e: unknown) => void }>();
  const started: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const start = (_: unknown, index: number) =>
    new Promise<T>((resolve, reject) => {
      started.push(index);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      pending.set(index, {
        resolve: (v) => {
          inFlight -= 1;
          resolve(v);
        },
        reject: (e) => {
          inFlight -= 1;
          reject(e);
        },
      });
    });
  const tick = () => new Promise((r) => setImmediate(r));
  return { start, started, pending, tick, get maxInFlight() { return maxInFlight; } };
}

describe('mapWithWindow', () => {
  it('keeps at most `limit` in flight, starts the next when one finishes, and returns results in item order', async () => {
    const jobs = manualJobs<string>();
    const done = mapWithWindow(['a', 'b', 'c', 'd', 'e'], 2, jobs.start);
    await jobs.tick();
    expect(jobs.started).toEqual([0, 1]);
    jobs.pending.get(1)!.resolve('B'); // the second finishes first: item 2 takes its place
    await jobs.tick();
    expect(jobs.started).toEqual([0, 1, 2]);
    jobs.pending.get(0)!.resolve('A');
    await jobs.tick();
    expect(jobs.started).toEqual([0, 1, 2, 3]);
    jobs.pending.get(3)!.resolve('D');
    await jobs.tick();
    expect(jobs.started).toEqual([0, 1, 2, 3, 4]);
    jobs.pending.get(4)!.resolve('E');
    jobs.pending.get(2)!.resolve('C');
    expect(await done).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(jobs.maxInFlight).toBe(2);
  });

  it('starts everything at once when the limit is at least the item count', async () => {
    const jobs = manualJobs<number>();
    const done = mapWithWindow([10, 20, 30], 5, jobs.start);
    await jobs.tick();
    expect(jobs.started).toEqual([0, 1, 2]);
    for (const [i, p] of jobs.pending) p.resolve(i * 10);
    expect(await done).toEqual([0, 10, 20]);
  });

  it('rejects with the first failure and starts nothing after it', async () => {
    const jobs = manualJobs<number>();
    const done = mapWithWindow([1, 2, 3, 4], 2, jobs.start);
    await jobs.tick();
    jobs.pending.get(0)!.reject(new Error('episode 0 failed'));
    await expect(done).rejects.toThrow('episode 0 failed');
    await jobs.tick();
    expect(jobs.started).toEqual([0, 1]);
  });

  it('returns [] for no items and refuses a limit below 1', async () => {
    expect(await mapWithWindow([], 3, async () => 1)).toEqual([]);
    await expect(mapWithWindow([1], 0, async () => 1)).rejects.toThrow(RangeError);
  });
});
