/**
 * The scale bench's figures (bench/scaleSummary.ts), computed by hand: turns/s and CPU per turn over
 * the window in which turns ended, the whole run's CPU, and a report name that never repeats.
 */
import { describe, expect, it } from 'vitest';
import type { CpuSample } from '../../bench/cpu';
import { reportFileName, summarise } from '../../bench/scaleSummary';

const zero: CpuSample = { worker: 0, temporal: 0, postgres: 0, dockerd: 0, sandbox: 0, mini: 0 };

/** A timeline where each process used CPU at a constant rate (seconds of CPU per second). */
function steady(rates: Partial<CpuSample>): { between(t0: number, t1: number): CpuSample; calls: [number, number][] } {
  const calls: [number, number][] = [];
  return {
    calls,
    between(t0, t1) {
      calls.push([t0, t1]);
      const sec = (t1 - t0) / 1000;
      return Object.fromEntries(Object.keys(zero).map((k) => [k, (rates[k as keyof CpuSample] ?? 0) * sec])) as CpuSample;
    },
  };
}

describe('summarise', () => {
  it('counts the turns that ended after the first turn end, over the time to the last one', () => {
    // Two episodes: ends at 1000, 1100, 1200 and 1050, 1150, 1250 (ms); 5 turns end in 250 ms after the first.
    const timeline = steady({ worker: 0.5, sandbox: 0.25 });
    const r = summarise(
      'bare',
      2,
      {
        runStart: 0,
        runEnd: 2000,
        episodes: [
          { perTurnMs: [100, 100, 100], turnEnds: [1000, 1100, 1200], reward: 1 },
          { perTurnMs: [150, 100, 100], turnEnds: [1050, 1150, 1250], reward: 0 },
        ],
      },
      timeline,
    );
    expect(r.window).toEqual({ sec: 0.25, turns: 5 });
    expect(r.turnsPerSec).toBe(20);
    expect(r.turns).toBe(6);
    expect(r.turnP50Ms).toBe(100);
    // 0.5 CPU s/s over 0.25 s = 125 ms of worker CPU over 5 turns; sandbox half that.
    expect(r.cpuPerTurnMs).toEqual({ ...zero, worker: 25, sandbox: 12.5 });
    expect(timeline.calls).toContainEqual([1000, 1250]);
    // The whole run: 2 s, 1 s of worker CPU, 0.5 s of sandbox CPU, over all 6 turns.
    expect(r.wholeRun).toEqual({ wallSec: 2, cpuSec: { ...zero, worker: 1, sandbox: 0.5 }, cpuPerTurnMs: { ...zero, worker: 166.7, sandbox: 83.3 } });
    expect(r.rewards).toEqual([1, 0]);
  });
});

describe('reportFileName', () => {
  it('names a report by its second, never by its day alone', () => {
    expect(reportFileName(new Date('2026-11-30T11:41:59.123Z'))).toBe('scale-2026-11-30T11-41-59Z.json');
    expect(reportFileName(new Date('2026-11-30T11:42:00.000Z'))).not.toBe(reportFileName(new Date('2026-11-30T11:41:59.000Z')));
  });
});
