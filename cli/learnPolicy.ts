/**
 * The learning demo's policy: the corpus of noisy demonstrations (tasks/learn), the base model
 * pre-trained on it by `python -m swerl_trainer.pretrain` (cached under .swerl/checkpoints by the
 * corpus hash), and the trainer's OpenAI-compatible policy server serving it. The training loop
 * hot-reloads that server through the trainer's load_policy activity after every update.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { learnCorpus, LEARN_CORPUS } from '../tasks/learn/suite';
import { REPO_ROOT } from './dev/settings';
import { CHECKPOINTS_DIR, spawnPython, type PythonProcess } from './pythonProcess';

/**
 * Pre-training of the demo's base: long enough to learn the transcript format and the
 * demonstrations' mix of behaviours (issue 7's family: loss plateaued by ~150 steps, ~11 min on 2
 * idle cores for ~500-token transcripts; this family's open/edit/submit ones are ~880 tokens, at
 * most ~1150, hence the 1280-token context). On the sed-style corpus (~320 tokens) the 200 steps
 * took 786 s at load 13-25 under nice 19, and the base does not copy the issue's line yet
 * (docs/learn-demo-attempts.md, section 3).
 */
export const PRETRAIN = { preset: 'learn', steps: 200, batchSize: 16, lr: 3e-3, warmup: 20, weightDecay: 0.01, seed: 1, maxSeqLen: 1280 } as const;

export interface LearnedPolicy {
  url: string;
  baseId: string;
  server: PythonProcess;
}

/** Writes the corpus under .swerl/cache, named by its content hash; returns the path and hash. */
export function writeCorpus(): { file: string; sha: string } {
  const text = learnCorpus(LEARN_CORPUS).map((d) => JSON.stringify(d)).join('\n') + '\n';
  const sha = createHash('sha256').update(text).update(JSON.stringify(PRETRAIN)).digest('hex');
  const dir = path.join(REPO_ROOT, '.swerl', 'cache');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `learn-corpus-${sha.slice(0, 12)}.jsonl`);
  if (!existsSync(file)) writeFileSync(file, text);
  return { file, sha };
}

/** Pre-trains `<base>-<hash>` unless cached; returns its checkpoint id. */
export async function pretrainBase(base: string, log: (line: string) => void): Promise<string> {
  const corpus = writeCorpus();
  const id = `${base}-${corpus.sha.slice(0, 8)}`;
  const p = PRETRAIN;
  const started = Date.now();
  const { ready: done } = await spawnPython({
    module: 'swerl_trainer.pretrain',
    label: 'pre-training',
    readyTimeoutMs: 60 * 60_000,
    args: [
      '--corpus', corpus.file, '--checkpoints', CHECKPOINTS_DIR, '--id', id, '--preset', p.preset,
      '--steps', String(p.steps), '--batch-size', String(p.batchSize), '--lr', String(p.lr), '--warmup', String(p.warmup),
      '--weight-decay', String(p.weightDecay), '--seed', String(p.seed), '--max-seq-len', String(p.maxSeqLen), '--threads', '2',
    ],
    onEvent: (e) => {
      if (e.event === 'pretrain_progress') log(`  pre-training step ${String(e.step)}/${p.steps}: loss ${Number(e.loss).toFixed(3)}, ${Number(e.tokens_per_s).toFixed(0)} tokens/s`);
    },
  });
  log(`base policy ${id}: ${done.cached ? 'cached' : `pre-trained in ${((Date.now() - started) / 1000).toFixed(0)}s`} (final loss ${Number(done.final_loss ?? done.loss).toFixed(3)})`);
  return id;
}

export async function startPolicyServer(checkpointId: string): Promise<LearnedPolicy> {
  const server = await spawnPython({
    module: 'swerl_trainer.server',
    label: 'policy server',
    readyEvent: 'policy_server_ready',
    readyTimeoutMs: 120_000,
    args: ['--checkpoints', CHECKPOINTS_DIR, '--checkpoint', checkpointId, '--init-base', checkpointId, '--port', '0', '--threads', '1'],
  });
  return { url: String(server.ready.url), baseId: checkpointId, server };
}
