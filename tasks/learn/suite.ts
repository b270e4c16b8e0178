/**
 * The `learn` suite and its pre-training corpus, both derived from fixed seeds: 60 instances
 * (every third held out for eval, as in the toy suite) and demonstrations drawn from a disjoint
 * seed stream, minus any instance identical to a held-out one, so held-out tasks stay unseen.
 */
import { everyThirdHeldOut } from '../suite';
import { corpus, type CorpusOptions, type Demonstration } from './demos';
import { learnInstance, type LearnInstance } from './family';

export const SUITE_SEED = 1;
export const SUITE_SIZE = 60;
const CORPUS_SEED = 2;

/** The demo's corpus: 4000 demonstrations, 30% of them gold (`learn` preset maxTurns 4). */
export const LEARN_CORPUS: CorpusOptions = {
  count: 4000,
  seed: 11,
  maxTurns: 4,
  noise: { 'line-below': 0.4, 'no-edit': 0.3 },
};

export function learnSuiteInstances(): LearnInstance[] {
  return Array.from({ length: SUITE_SIZE }, (_, i) => learnInstance(SUITE_SEED, i));
}

/** Held-out instances in the order writeSuite splits them (sorted by name). */
export function heldOutInstances(): LearnInstance[] {
  const sorted = learnSuiteInstances().sort((a, b) => a.name.localeCompare(b.name));
  return sorted.filter((_, i) => everyThirdHeldOut(i) === 'eval');
}

/** Demonstrations whose issue text or module source equals a held-out instance's are skipped. */
export function learnCorpus(opts: CorpusOptions): Demonstration[] {
  const held = heldOutInstances();
  const sources = new Set(held.map((i) => i.source));
  const problems = new Set(held.map((i) => i.spec.problem));
  return corpus((i) => learnInstance(CORPUS_SEED, i), (inst) => sources.has(inst.source) || problems.has(inst.spec.problem), opts);
}
