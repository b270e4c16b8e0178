/**
 * Pre-training speed of the learning demo's base, native against a transformers Qwen2 of the same
 * size (`python -m swerl_trainer.pretrain [--arch qwen2]`, issue #16): the demo's corpus and
 * hyper-parameters (cli/learnPolicy.ts PRETRAIN) for STEPS steps on one torch thread, as the demo
 * pre-trains, one after the other into a temporary checkpoints directory. The two tokenizers cut a
 * demonstration into different numbers of tokens, so demonstrations/s is the comparable figure.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { PRETRAIN, writeCorpus } from '../cli/learnPolicy';
import { TRAINER_DIR, TRAINER_HF_PYTHON, TRAINER_PYTHON } from '../cli/pythonProcess';
import { round1 } from './stats';

const STEPS = 100;

function pretrainOnce(python: string, arch: 'native' | 'qwen2', corpus: string, root: string): Record<string, number> {
  const p = PRETRAIN;
  const args = [
    '-m', 'swerl_trainer.pretrain', '--corpus', corpus, '--checkpoints', root, '--id', `bench-${arch}`, '--arch', arch, '--preset', p.preset,
    '--steps', String(STEPS), '--batch-size', String(p.batchSize), '--lr', String(p.lr), '--warmup', String(p.warmup),
    '--weight-decay', String(p.weightDecay), '--seed', String(p.seed), '--max-seq-len', String(p.maxSeqLen), '--threads', '1', '--log-every', String(STEPS),
  ];
  const load = loadavg()[0]!;
  const run = spawnSync(python, args, { cwd: TRAINER_DIR, encoding: 'utf8', timeout: 1_800_000 });
  const done = run.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((e) => e.event === 'pretrain_done');
  if (run.status !== 0 || !done) throw new Error(`pre-training (${arch}) failed (${run.status}): ${run.stderr.slice(-500)}`);
  const seconds = Number(done.seconds);
  return {
    [`pretrain_${arch}_tokens_per_sec`]: round1(Number(done.tokens_per_s)),
    [`pretrain_${arch}_demos_per_sec`]: round1((STEPS * p.batchSize) / seconds),
    [`pretrain_${arch}_demo_tokens_mean`]: round1(Number(done.demo_tokens_mean)),
    [`pretrain_${arch}_parameters`]: Number(done.parameters),
    [`pretrain_${arch}_final_loss`]: Math.round(Number(done.final_loss) * 1000) / 1000,
    [`pretrain_${arch}_loadavg_1m`]: round1((load + loadavg()[0]!) / 2),
  };
}

export async function benchPretrainDemo(): Promise<Record<string, number>> {
  const corpus = writeCorpus().file;
  const root = mkdtempSync(path.join(tmpdir(), 'swerl-bench-pretrain-'));
  try {
    return { ...pretrainOnce(TRAINER_PYTHON, 'native', corpus, root), ...pretrainOnce(TRAINER_HF_PYTHON, 'qwen2', corpus, root) };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
