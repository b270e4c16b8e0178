/**
 * Generates the `learn` suite (tasks/learn/tasks.jsonl + repos/) and, with --corpus FILE, the
 * pre-training corpus of noisy demonstrations on instances that are not in the suite's eval split.
 *
 *   npx tsx tasks/learn/generate.ts [--verify]
 *   npx tsx tasks/learn/generate.ts --corpus .swerl/cache/learn-corpus.jsonl
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { everyThirdHeldOut, writeSuite } from '../suite';
import { LEARN_CORPUS, learnCorpus, learnSuiteInstances } from './suite';

const HERE = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const at = args.indexOf('--corpus');
if (at >= 0) {
  const out = args[at + 1];
  if (!out) throw new Error('--corpus needs a file name');
  mkdirSync(dirname(out), { recursive: true });
  const demos = learnCorpus(LEARN_CORPUS);
  writeFileSync(out, demos.map((d) => JSON.stringify(d)).join('\n') + '\n');
  console.log(`wrote ${demos.length} demonstrations to ${out}`);
} else {
  writeSuite(learnSuiteInstances().map((i) => i.spec), { dir: HERE, prefix: 'learn', splitOf: everyThirdHeldOut, verify: args.includes('--verify') });
  console.log(`suite at ${join(HERE, 'tasks.jsonl')}`);
}
