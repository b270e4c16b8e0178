/**
 * Generates the `learn` suite (tasks/learn/tasks.jsonl + repos/) and, with --corpus FILE, the
 * pre-training corpus of noisy demonstrations on instances that are in neither its validation nor
 * its test split.
 *
 *   npx tsx tasks/learn/generate.ts [--verify]
 *   npx tsx tasks/learn/generate.ts --corpus .swerl/cache/learn-corpus.jsonl
 *   npx tsx tasks/learn/generate.ts --baselines docs/learn-baselines   (writes .json and .md)
 *   npx tsx tasks/learn/generate.ts --prompts validation FILE   (a split's first prompts, for
 *     `python -m swerl_trainer.first_action`; tune on validation, never on test)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSuite } from '../suite';
import { firstPromptRows, LEARN_CORPUS, LEARN_SPLITS, learnCorpus, learnSuiteInstances, splitOfSpec, type LearnSplit } from './suite';
import { learnBaselines, renderBaselinesDoc } from './baselines';

const HERE = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const at = args.indexOf('--corpus');
const baselinesAt = args.indexOf('--baselines');
const promptsAt = args.indexOf('--prompts');
if (promptsAt >= 0) {
  const split = args[promptsAt + 1] as LearnSplit;
  const out = args[promptsAt + 2];
  if (!LEARN_SPLITS.includes(split) || !out) throw new Error(`--prompts needs a split (${LEARN_SPLITS.join(', ')}) and a file name`);
  const rows = firstPromptRows(split);
  writeFileSync(out, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  console.log(`wrote ${rows.length} ${split} prompts to ${out}`);
} else if (baselinesAt >= 0) {
  const prefix = args[baselinesAt + 1];
  if (!prefix) throw new Error('--baselines needs an output path without extension');
  const b = learnBaselines(learnSuiteInstances());
  writeFileSync(`${prefix}.json`, JSON.stringify(b, null, 2) + '\n');
  writeFileSync(`${prefix}.md`, renderBaselinesDoc(b));
  console.log(`wrote ${prefix}.json and ${prefix}.md`);
} else if (at >= 0) {
  const out = args[at + 1];
  if (!out) throw new Error('--corpus needs a file name');
  mkdirSync(dirname(out), { recursive: true });
  const demos = learnCorpus(LEARN_CORPUS);
  writeFileSync(out, demos.map((d) => JSON.stringify(d)).join('\n') + '\n');
  console.log(`wrote ${demos.length} demonstrations to ${out}`);
} else {
  const instances = learnSuiteInstances();
  writeSuite(instances.map((i) => i.spec), { dir: HERE, prefix: 'learn', splitOf: splitOfSpec(instances), verify: args.includes('--verify') });
  console.log(`suite at ${join(HERE, 'tasks.jsonl')}`);
}
