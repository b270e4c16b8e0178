/** Nearest-rank percentile of `xs` (p in 0..100); NaN for no samples. */
export function percentile(xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

export const round1 = (x: number): number => Math.round(x * 10) / 10;
