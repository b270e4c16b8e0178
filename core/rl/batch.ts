/**
 * From an iteration's kept samples to optimizer steps (PAPER.md: 1 epoch per iteration = 2–8
 * optimizer steps; batch 128 in stage 1, 256 in stage 2), and from one step to micro-batches that
 * fit the trainer's memory. Deterministic: a replayed workflow forms the same steps, so the
 * trainer's idempotency key (run, stage, iteration, step) names the same samples every time.
 */
import { compareIds, requireInt, requireUniqueIds } from './inputs';
import { createRng, deriveSeed, shuffle } from './sampling';

export interface BatchSample {
  episodeId: string;
  /** Action tokens the loss runs over (observations are masked, so they do not count). */
  tokens: number;
  advantage: number;
}

export interface OptimizerStep<S> {
  /** 0-based, consecutive across epochs: the `step` of the idempotency key. */
  step: number;
  epoch: number;
  samples: S[];
}

export interface BatchOptions {
  /** Samples per optimizer step (stage `batchSize`). */
  batchSize: number;
  /** Passes over the samples (stage `epochsPerIteration`, paper 1). */
  epochs: number;
  /** E.g. deriveSeed(run.seed, stage.name, iteration). */
  seed: number;
}

/**
 * Batches per epoch for n samples. The remainder rule: a last partial batch of at least half
 * batchSize is its own step; a smaller one is merged into the previous batch (which then holds
 * fewer than 1.5 × batchSize). No sample is dropped — each one is a whole multi-turn episode —
 * and no step is a tiny noisy batch. Fewer samples than batchSize make one (small) step.
 */
export function batchesPerEpoch(n: number, batchSize: number): number {
  requireInt('sample count', n, 0);
  requireInt('batchSize', batchSize, 1);
  if (n === 0) return 0;
  const full = Math.floor(n / batchSize);
  const rest = n - full * batchSize;
  if (full === 0) return 1;
  return rest * 2 >= batchSize ? full + 1 : full;
}

/**
 * Each epoch shuffles on its own stream deriveSeed(seed, 'epoch', e) and cuts batches by the
 * rule of batchesPerEpoch. Samples are sorted by episode id before shuffling, so the steps depend
 * on which episodes were kept, not on the order their child workflows finished in.
 * Example (paper stage 1): 700 kept samples, batch 128 → 5 × 128 + 60; 60 < 64 so the last step
 * holds 188 → 5 steps.
 */
export function formBatches<S extends BatchSample>(samples: readonly S[], opts: BatchOptions): Array<OptimizerStep<S>> {
  requireInt('epochs', opts.epochs, 1);
  requireUniqueIds('episode id', samples.map((s) => s.episodeId));
  samples.forEach((s) => requireInt(`tokens of episode ${s.episodeId}`, s.tokens, 0));
  const count = batchesPerEpoch(samples.length, opts.batchSize);
  const ordered = samples.slice().sort((a, b) => compareIds(a.episodeId, b.episodeId));
  const steps: Array<OptimizerStep<S>> = [];
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    const order = shuffle(ordered, createRng(deriveSeed(opts.seed, 'epoch', epoch)));
    for (let b = 0; b < count; b++) {
      const end = b === count - 1 ? order.length : (b + 1) * opts.batchSize;
      steps.push({ step: steps.length, epoch, samples: order.slice(b * opts.batchSize, end) });
    }
  }
  return steps;
}

/**
 * Splits one optimizer step into micro-batches of at most `tokenBudget` tokens for gradient
 * accumulation. Next-fit in the given order: a sample is never split (its turns share one
 * trajectory), and a sample larger than the budget gets a micro-batch of its own rather than an
 * error — the trainer decides whether it fits at all.
 */
export function microBatches<S extends Pick<BatchSample, 'episodeId' | 'tokens'>>(samples: readonly S[], tokenBudget: number): S[][] {
  requireInt('tokenBudget', tokenBudget, 1);
  const out: S[][] = [];
  let current: S[] = [];
  let used = 0;
  for (const s of samples) {
    requireInt(`tokens of episode ${s.episodeId}`, s.tokens, 0);
    if (current.length > 0 && used + s.tokens > tokenBudget) {
      out.push(current);
      current = [];
      used = 0;
    }
    current.push(s);
    used += s.tokens;
  }
  if (current.length > 0) out.push(current);
  return out;
}

