/**
 * Live progress for CLI verbs that wait (`swerl start --wait`, `swerl eval`): one line on stderr,
 * redrawn in place, with a bar and an ETA when the total is known. Silent when stderr is not a
 * terminal, so logs and pipes get only the command's result.
 */
import type { RunStatus } from '../workflows/definitions';

export interface ProgressSnapshot {
  /** What is happening, e.g. "rl-stage1 2/3 · episodes 40 · infra 0". */
  label: string;
  done: number;
  /** null when unknown: counts only, no bar or ETA. */
  total: number | null;
}

function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** The line for a snapshot after `elapsedMs`; the ETA extrapolates the rate so far. */
export function renderProgress(p: ProgressSnapshot, elapsedMs: number, barWidth = 20): string {
  const parts = [p.label];
  if (p.total !== null && p.total > 0) {
    const frac = Math.min(1, Math.max(0, p.done / p.total));
    const filled = Math.round(frac * barWidth);
    parts.push(`[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${p.done}/${p.total} ${Math.floor(frac * 100)}%`);
    parts.push(`elapsed ${clock(elapsedMs)}`);
    if (p.done > 0 && p.done < p.total) parts.push(`ETA ${clock((elapsedMs * (p.total - p.done)) / p.done)}`);
  } else {
    parts.push(`${p.done} done`, `elapsed ${clock(elapsedMs)}`);
  }
  return parts.join(' · ');
}

export interface WatchOptions {
  stream?: NodeJS.WriteStream;
  intervalMs?: number;
}

/**
 * Awaits `work`, redrawing the progress line every interval while it runs. A failing poll keeps
 * the last line (progress is a view; the work's own result or error is what the command reports).
 */
export async function watchProgress<T>(work: Promise<T>, poll: () => Promise<ProgressSnapshot>, opts: WatchOptions = {}): Promise<T> {
  const stream = opts.stream ?? process.stderr;
  if (!stream.isTTY) return work;
  const t0 = Date.now();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const draw = (line: string) => {
    const width = stream.columns ? stream.columns - 1 : 120;
    stream.write(`\r\x1b[2K${line.slice(0, width)}`);
  };
  const tick = async () => {
    try {
      const snapshot = await poll();
      if (!stopped) draw(renderProgress(snapshot, Date.now() - t0));
    } catch {
      // keep the last line
    }
    if (!stopped) timer = setTimeout(() => void tick(), opts.intervalMs ?? 2_000);
  };
  void tick();
  try {
    return await work;
  } finally {
    stopped = true;
    clearTimeout(timer);
    stream.write('\r\x1b[2K');
  }
}

/** A training run's progress: iterations over all stages, with the stage, episodes and infra failures. */
export function runProgress(s: RunStatus): ProgressSnapshot {
  const stage = s.stages[s.stageIndex];
  const done = s.stages.reduce((n, st) => n + st.iterationsDone, 0);
  const total = s.stages.reduce((n, st) => n + st.iterationsPlanned, 0);
  const where = stage ? `${stage.name} ${stage.iterationsDone}/${stage.iterationsPlanned}` : '';
  return { label: `${s.phase} ${where} · episodes ${s.counters.episodes} · infra ${s.counters.infraFailures}`, done, total };
}
