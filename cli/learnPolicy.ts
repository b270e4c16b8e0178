/**
 * The learning demo's policy: the corpus of noisy demonstrations (tasks/learn), the base model
 * pre-trained on it by `python -m swerl_trainer.pretrain` (cached under .swerl/checkpoints by the
 * corpus hash), and the trainer's OpenAI-compatible policy server serving it. The training loop
 * hot-reloads that server through the trainer's load_policy activity after every update.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BASE_ARCHS, type BaseArch } from '../core/config';
import { ConfigError, ErrorCodes } from '../core/errors';
import { firstPromptRows, learnCorpus, LEARN_CORPUS } from '../tasks/learn/suite';
import { REPO_ROOT } from './dev/settings';
import { CHECKPOINTS_DIR, spawnPython, TRAINER_HF_PYTHON, TRAINER_PYTHON, type PythonProcess } from './pythonProcess';

export { BASE_ARCHS, type BaseArch };

/** `--arch`, else the config's `model.arch`, else native. */
export function parseBaseArch(text: string | undefined, fromConfig: BaseArch = 'native'): BaseArch {
  if (text === undefined) return fromConfig;
  const arch = BASE_ARCHS.find((a) => a === text);
  if (!arch) throw new ConfigError(ErrorCodes.CONFIG_INVALID, `--arch must be one of ${BASE_ARCHS.join(', ')}, got ${JSON.stringify(text)}`, { arch: text });
  return arch;
}

/**
 * The interpreter of every Python process of a demo on this base. A transformers base needs the HF
 * venv: a ConfigError naming its install command if it is missing (the native venv is the
 * bootstrap's, checked when a process is spawned, as before).
 */
export function trainerPython(arch: BaseArch, exists: (file: string) => boolean = existsSync): string {
  if (arch === 'native') return TRAINER_PYTHON;
  if (!exists(TRAINER_HF_PYTHON)) {
    throw new ConfigError(
      ErrorCodes.CONFIG_INVALID,
      `--arch ${arch} runs pre-training, the policy server and the trainer worker with ${path.relative(REPO_ROOT, TRAINER_HF_PYTHON)}, which is missing: ` +
        'run `bash trainer/install.sh --hf` first (torch 2.x + transformers: ~5 GB the first time, then cached under ~/.cache/swerl)',
      { arch, python: TRAINER_HF_PYTHON },
    );
  }
  return TRAINER_HF_PYTHON;
}

export interface BaseCheckpoint {
  id: string;
  dir: string;
  /** The interpreter of the demo's Python processes on this base (trainerPython). */
  python: string;
}

/**
 * `--base <id>` with `--arch <arch>`, checked before the stack comes up: a checkpoint the trainer
 * wrote under .swerl/checkpoints; one in the Hugging Face format (config.json with a `model_type`)
 * only with the --arch of that model_type (a native checkpoint loads in either venv); and the venv
 * of that arch present. A ConfigError naming the flag otherwise. A config.json the demo cannot read
 * is left to the policy server, which says what is wrong with it.
 */
export function resolveBaseCheckpoint(id: string, arch: BaseArch, opts: { checkpointsDir?: string; venvExists?: (file: string) => boolean } = {}): BaseCheckpoint {
  const root = opts.checkpointsDir ?? CHECKPOINTS_DIR;
  const dir = path.resolve(root, id);
  if (!dir.startsWith(root + path.sep) || !existsSync(dir)) {
    throw new ConfigError(ErrorCodes.CONFIG_INVALID, `--base ${id}: no such checkpoint in ${path.relative(REPO_ROOT, root) || root}`, { base: id });
  }
  let modelType: unknown;
  try {
    modelType = (JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as { model_type?: unknown }).model_type;
  } catch {
    modelType = undefined;
  }
  if (typeof modelType === 'string' && modelType !== arch) {
    const known = BASE_ARCHS.find((a) => a === modelType);
    const fix = known ? `add --arch ${known} (the policy server and the trainer worker then run in trainer/.venv-hf)` : `--arch supports ${BASE_ARCHS.filter((a) => a !== 'native').join(' and ')} only`;
    throw new ConfigError(
      ErrorCodes.CONFIG_INVALID,
      `--base ${id} is a transformers checkpoint (model_type ${modelType}), not --arch ${arch}: ${fix}`,
      { base: id, dir, modelType, arch },
    );
  }
  return { id, dir, python: trainerPython(arch, opts.venvExists) };
}

/** The pre-trained base's checkpoint id: the native one as before, a transformers one named by its architecture. */
export function baseCheckpointId(base: string, corpusSha: string, arch: BaseArch): string {
  return arch === 'native' ? `${base}-${corpusSha.slice(0, 8)}` : `${base}-${arch}-${corpusSha.slice(0, 8)}`;
}

/**
 * Pre-training of the demo's base. The copy of the issue's line number into `sed -i 'Nd' app.py`
 * is learned abruptly, after several hundred steps at a high learning rate: on the validation
 * prompts (greedy first actions), 200 steps with the cosine schedule never copied (0-3 of 20,
 * docs/learn-demo-attempts.md section 3), while the same corpus and learning rate over 1500 steps
 * copied a line from the issue (gold or the line below, the corpus's two edit modes) on 20 of 20 by
 * step 900 (section 4). ~5 M sequence tokens: minutes on 2 idle cores.
 */
export const PRETRAIN = { preset: 'learn', steps: 1500, batchSize: 16, lr: 3e-3, warmup: 20, weightDecay: 0.01, seed: 1, maxSeqLen: 1280 } as const;

/**
 * torch threads of pre-training. One: on the 2-core machine shared with the rest of the demo (or
 * anything else) two threads ran at ~5,000 tokens/s, one at ~10,000 (measured 2026-11-30, load 4-7).
 */
const PRETRAIN_THREADS = 1;

/** Steps between pre-training's validation probes (20 greedy first actions: ~2 s). */
const PROBE_EVERY = 250;

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

/**
 * The validation split's first prompts (what `tasks/learn/generate.ts --prompts validation` writes),
 * for pre-training's greedy probe: validation only, never test.
 */
export function writeProbePrompts(dir: string): string {
  const text = firstPromptRows('validation').map((r) => JSON.stringify(r)).join('\n') + '\n';
  const file = path.join(dir, `learn-probe-validation-${createHash('sha256').update(text).digest('hex').slice(0, 12)}.jsonl`);
  if (!existsSync(file)) writeFileSync(file, text);
  return file;
}

/** How many of a probe's greedy first actions copied the issue's line (gold) or the line below. */
export function describeProbe(e: Record<string, unknown>): string {
  const g = (e.greedy ?? {}) as Record<string, number>;
  return `  validation probe at step ${String(e.step)}: greedy first action deletes the issue's line on ${g.gold ?? 0}/${String(e.tasks)}, the line below on ${g['line-below'] ?? 0}, another line on ${(g['other-line'] ?? 0) + (g['def-line'] ?? 0)}, submits on ${g.submit ?? 0}`;
}

/** `python -m swerl_trainer.pretrain`'s arguments for PRETRAIN on `arch` (native: none added). */
export function pretrainArgs(corpusFile: string, id: string, probePrompts: string, arch: BaseArch): string[] {
  const p = PRETRAIN;
  return [
    '--corpus', corpusFile, '--checkpoints', CHECKPOINTS_DIR, '--id', id, ...(arch === 'native' ? [] : ['--arch', arch]), '--preset', p.preset,
    '--steps', String(p.steps), '--batch-size', String(p.batchSize), '--lr', String(p.lr), '--warmup', String(p.warmup),
    '--weight-decay', String(p.weightDecay), '--seed', String(p.seed), '--max-seq-len', String(p.maxSeqLen), '--threads', String(PRETRAIN_THREADS),
    '--probe-prompts', probePrompts, '--probe-every', String(PROBE_EVERY),
  ];
}

/** Pre-trains `<base>-<hash>` (`<base>-<arch>-<hash>` for a transformers base) unless cached; returns its checkpoint id. */
export async function pretrainBase(base: string, log: (line: string) => void, arch: BaseArch = 'native'): Promise<string> {
  const corpus = writeCorpus();
  const id = baseCheckpointId(base, corpus.sha, arch);
  const p = PRETRAIN;
  const started = Date.now();
  const { ready: done } = await spawnPython({
    module: 'swerl_trainer.pretrain',
    python: trainerPython(arch),
    label: 'pre-training',
    readyTimeoutMs: 60 * 60_000,
    args: pretrainArgs(corpus.file, id, writeProbePrompts(path.dirname(corpus.file)), arch),
    onEvent: (e) => {
      if (e.event === 'pretrain_probe') log(describeProbe(e));
      if (e.event === 'pretrain_progress' && Number(e.step) % 100 === 0) log(`  pre-training step ${String(e.step)}/${p.steps}: loss ${Number(e.loss).toFixed(3)}, ${Number(e.tokens_per_s).toFixed(0)} tokens/s`);
    },
  });
  log(`base policy ${id}: ${done.cached ? 'cached' : `pre-trained in ${((Date.now() - started) / 1000).toFixed(0)}s`} (final loss ${Number(done.final_loss ?? done.loss).toFixed(3)})`);
  return id;
}

export async function startPolicyServer(checkpointId: string, python: string = TRAINER_PYTHON): Promise<LearnedPolicy> {
  const server = await spawnPython({
    module: 'swerl_trainer.server',
    python,
    label: 'policy server',
    readyEvent: 'policy_server_ready',
    readyTimeoutMs: 120_000,
    args: ['--checkpoints', CHECKPOINTS_DIR, '--checkpoint', checkpointId, '--init-base', checkpointId, '--port', '0', '--threads', '1'],
  });
  return { url: String(server.ready.url), baseId: checkpointId, server };
}
