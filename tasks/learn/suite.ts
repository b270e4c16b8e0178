/**
 * The `learn` suite and its pre-training corpus, both derived from fixed seeds. Three splits:
 * train (what RFT and RL sample), validation (the promotion gate and hyper-parameter choices) and
 * test (evaluated for the report only). Each split draws its instances from its own index range and
 * keeps an instance only while its fix line stays within MAX_SHARE of the split, so no constant
 * policy can score above MAX_SHARE on any split. The corpus is drawn from a disjoint seed stream,
 * minus any instance identical to a validation or test one, so those stay unseen.
 */
import type { ToyTaskSpec } from '../toy/spec';
import { corpus, firstPrompts, type CorpusOptions, type DemoMessage, type Demonstration } from './demos';
import { learnInstance, type LearnInstance } from './family';

export const SUITE_SEED = 1;
export const LEARN_SPLITS = ['train', 'validation', 'test'] as const;
export type LearnSplit = (typeof LEARN_SPLITS)[number];
/** Tasks per split and the first instance index of its range (names are `<module>-<index>`). */
export const SPLIT_PLAN: Record<LearnSplit, { size: number; firstIndex: number }> = {
  train: { size: 80, firstIndex: 0 },
  validation: { size: 20, firstIndex: 1000 },
  test: { size: 40, firstIndex: 2000 },
};
/** No fix line is the answer of more than this share of a split's tasks. */
export const MAX_SHARE = 0.05;
const CORPUS_SEED = 2;

/**
 * The demo's corpus: 4000 demonstrations, 30% of them gold (`learn` preset maxTurns 4), in the
 * sed style (~320 tokens a transcript with the prompts, against ~880 for open/edit/submit).
 */
export const LEARN_CORPUS: CorpusOptions = {
  count: 4000,
  seed: 11,
  maxTurns: 4,
  style: 'sed',
  noise: { 'line-below': 0.4, 'no-edit': 0.3 },
};

export interface SplitInstance extends LearnInstance {
  split: LearnSplit;
}

/**
 * The instances of one split: indices firstIndex, firstIndex + 1, … of SUITE_SEED, skipping one
 * whose fix line already has floor(MAX_SHARE · size) tasks (bounded: 100 draws per task).
 */
export function splitInstances(split: LearnSplit): SplitInstance[] {
  const { size, firstIndex } = SPLIT_PLAN[split];
  const cap = Math.max(1, Math.floor(MAX_SHARE * size + 1e-9));
  const perLine = new Map<number, number>();
  const out: SplitInstance[] = [];
  for (let index = firstIndex; out.length < size; index++) {
    if (index - firstIndex > 100 * size) throw new Error(`learn split ${split}: ${out.length} of ${size} tasks after ${index - firstIndex} draws`);
    const inst = learnInstance(SUITE_SEED, index);
    const n = perLine.get(inst.line) ?? 0;
    if (n >= cap) continue;
    perLine.set(inst.line, n + 1);
    out.push({ ...inst, split });
  }
  return out;
}

export function learnSuiteInstances(): SplitInstance[] {
  return LEARN_SPLITS.flatMap(splitInstances);
}

/** The split of each task name (writeSuite asks by spec). */
export function splitOfSpec(instances: readonly SplitInstance[]): (index: number, spec: ToyTaskSpec) => LearnSplit {
  const byName = new Map(instances.map((i) => [i.spec.name, i.split]));
  return (_index, spec) => {
    const split = byName.get(spec.name);
    if (!split) throw new Error(`learn task ${spec.name} has no split`);
    return split;
  };
}

/** Instances the policy must never see in pre-training: validation and test. */
export function unseenInstances(): SplitInstance[] {
  return [...splitInstances('validation'), ...splitInstances('test')];
}

/** Demonstrations whose issue text or module source equals a validation or test instance's are skipped. */
export function learnCorpus(opts: CorpusOptions): Demonstration[] {
  const held = unseenInstances();
  const sources = new Set(held.map((i) => i.source));
  const problems = new Set(held.map((i) => i.spec.problem));
  return corpus((i) => learnInstance(CORPUS_SEED, i), (inst) => sources.has(inst.source) || problems.has(inst.spec.problem), opts);
}

/** A split's first prompts with their answers: the input of `python -m swerl_trainer.first_action` and of pre-training's probe. */
export interface PromptRow {
  task_id: string;
  line: number;
  def_line: number;
  messages: DemoMessage[];
}

export function firstPromptRows(split: LearnSplit): PromptRow[] {
  return splitInstances(split).map((i) => ({ task_id: `learn__${i.name}`, line: i.line, def_line: i.defLine, messages: firstPrompts(i, { maxTurns: LEARN_CORPUS.maxTurns }) }));
}
