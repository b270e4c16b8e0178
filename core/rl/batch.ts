/**
 * From an iteration's kept samples to optimizer steps (PAPER.md: 1 epoch per iteration = 2–8
 * optimizer steps; batch 128 in stage 1, 256 in stage 2), and from one step to micro-batches that
 * fit the trainer's memory. Deterministic: a replayed workflow forms the same steps, so the
 * trainer's idempotency key (run, stage, iteration, step) names the same samples every time.
 */
import type { RlStageConfig } from '../config';
import { compareIds, invalidInput, requireInt, requireUniqueIds } from './inputs';
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
 * Like formBatches, but a group (the G rollouts of one problem) is never split across optimizer
 * steps: each epoch shuffles whole groups on the same stream and fills a step with groups until it
 * holds at least batchSize samples; a last step of fewer than half batchSize samples is merged into
 * the previous one. Within one step the group-mean baseline then cancels exactly on what a group's
 * rollouts share, so with a small batch (a few groups) the update is the within-group contrast and
 * not the imbalance of advantages between pieces of different groups. Groups are ordered by their
 * smallest episode id before shuffling, as samples are in formBatches.
 * Example: groups of 6, 5, 6 and 4 samples, batchSize 12 → [6 + 5 + 6 = 17] then [4]: 4 < 6, so one
 * step of 21 (in the shuffled order of the groups).
 */
export function formGroupBatches<S extends BatchSample>(groups: ReadonlyArray<readonly S[]>, opts: BatchOptions): Array<OptimizerStep<S>> {
  requireInt('epochs', opts.epochs, 1);
  requireInt('batchSize', opts.batchSize, 1);
  requireUniqueIds('episode id', groups.flatMap((g) => g.map((s) => s.episodeId)));
  groups.forEach((g) => g.forEach((s) => requireInt(`tokens of episode ${s.episodeId}`, s.tokens, 0)));
  const firstId = (g: readonly S[]): string => g.map((s) => s.episodeId).sort(compareIds)[0]!;
  const ordered = groups.filter((g) => g.length > 0).sort((a, b) => compareIds(firstId(a), firstId(b)));
  const steps: Array<OptimizerStep<S>> = [];
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    const order = shuffle(ordered, createRng(deriveSeed(opts.seed, 'epoch', epoch)));
    const epochSteps: S[][] = [];
    let current: S[] = [];
    for (const g of order) {
      current.push(...g);
      if (current.length >= opts.batchSize) {
        epochSteps.push(current);
        current = [];
      }
    }
    if (current.length > 0) {
      if (epochSteps.length > 0 && current.length * 2 < opts.batchSize) epochSteps[epochSteps.length - 1]!.push(...current);
      else epochSteps.push(current);
    }
    for (const samples of epochSteps) steps.push({ step: steps.length, epoch, samples });
  }
  return steps;
}

/** What buildRlBatch needs of an RL stage to cut its steps. */
export type RlBatchShaping = Pick<RlStageConfig, 'advantageEpsilon' | 'dropZeroAdvantage' | 'batchSize' | 'epochsPerIteration'> & {
  /** Absent = 'episode' (the activity input of histories recorded before the option existed). */
  batchGrouping?: RlStageConfig['batchGrouping'];
};

/**
 * The stage's batch settings as the workflow passes them to the activity. The default grouping is
 * left out, so a stage without the option schedules the same input as before it existed.
 */
export function rlBatchShaping(stage: RlStageConfig): RlBatchShaping {
  const base = { advantageEpsilon: stage.advantageEpsilon, dropZeroAdvantage: stage.dropZeroAdvantage, batchSize: stage.batchSize, epochsPerIteration: stage.epochsPerIteration };
  return stage.batchGrouping === 'group' ? { ...base, batchGrouping: 'group' } : base;
}

/**
 * An iteration's optimizer steps from its kept samples: formBatches, or with batchGrouping 'group'
 * formGroupBatches over the kept samples regrouped by the group they came from.
 */
export function rlSteps<S extends BatchSample>(groups: ReadonlyArray<{ samples: ReadonlyArray<{ episodeId: string }> }>, kept: readonly S[], shaping: RlBatchShaping, seed: number): Array<OptimizerStep<S>> {
  const opts = { batchSize: shaping.batchSize, epochs: shaping.epochsPerIteration, seed };
  if (shaping.batchGrouping !== 'group') return formBatches(kept, opts);
  const groupOf = new Map<string, number>();
  groups.forEach((g, i) => g.samples.forEach((s) => groupOf.set(s.episodeId, i)));
  const byGroup = new Map<number, S[]>();
  for (const s of kept) {
    const i = groupOf.get(s.episodeId);
    if (i === undefined) throw invalidInput(`kept sample ${s.episodeId} belongs to no group`, { episodeId: s.episodeId });
    const members = byGroup.get(i);
    if (members) members.push(s);
    else byGroup.set(i, [s]);
  }
  return formGroupBatches([...byGroup.values()], opts);
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
