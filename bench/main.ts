/**
 * `npm run bench`: every benchmark, printed as a table on stderr and as one JSON document on
 * stdout (also written to bench/results/latest.json). `npm run bench -- sandbox episode` runs a subset
 * (`fanout`, the 3,000-episode scale run, is long: run it on its own).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { benchEpisode } from './episode';
import { benchFanout } from './fanout';
import { benchPretrainDemo } from './pretrainDemo';
import { benchReward } from './reward';
import { benchSandbox } from './sandbox';
import { benchScale } from './scale';
import { round1 } from './stats';

type Bench = () => Promise<Record<string, number>>;

const ROOT = path.join(__dirname, '..');

/** The trainer's own benchmark (tokens/s of SFT and RL steps on CPU, checkpoint write time, sampling), if its venv is installed. */
function runTrainerBench(venv: string, args: string[], prefix: string): Record<string, number> {
  const python = path.join(ROOT, 'trainer', venv, 'bin', 'python');
  const run = spawnSync(python, [path.join(ROOT, 'trainer', 'bench.py'), ...args], { cwd: path.join(ROOT, 'trainer'), encoding: 'utf8', timeout: 900_000 });
  if (run.status !== 0) throw new Error(`trainer bench failed (${run.status}): ${run.stderr.slice(-500)}`);
  const doc = JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as {
    sft: { tokens_per_sec_best: number; checkpoint_write_sec: number };
    rl: { tokens_per_sec_best: number; checkpoint_write_sec: number };
    sample: { tokens_per_sec: number };
    loadavg_1m: number;
  };
  return {
    [`${prefix}_sft_tokens_per_sec`]: round1(doc.sft.tokens_per_sec_best),
    [`${prefix}_rl_tokens_per_sec`]: round1(doc.rl.tokens_per_sec_best),
    [`${prefix}_checkpoint_write_ms`]: Math.round(doc.rl.checkpoint_write_sec * 1000),
    [`${prefix}_sample_tokens_per_sec`]: round1(doc.sample.tokens_per_sec),
    [`${prefix}_bench_loadavg_1m`]: round1(doc.loadavg_1m),
  };
}

async function benchTrainer(): Promise<Record<string, number>> {
  return runTrainerBench('.venv', [], 'trainer');
}

/**
 * The same for the learning demo's native model (`demo --arch native`: the `learn` preset, cli/learnPolicy.ts)
 * on transcripts of the demo's size, with the 2 torch threads the demo's pre-training uses.
 */
async function benchTrainerDemo(): Promise<Record<string, number>> {
  return runTrainerBench('.venv', ['--preset', 'learn', '--samples', '16', '--turns', '3', '--turn-bytes', '200', '--threads', '2'], 'trainer_demo');
}

/**
 * The learning demo's default model since config/learn.yaml took `model.arch: qwen2`: the transformers
 * Qwen2 base of size `learn` (hf.SIZES, 187,328 parameters) on the same transcripts and threads as
 * trainer-demo, in the HF venv.
 */
async function benchTrainerDemoHf(): Promise<Record<string, number>> {
  return runTrainerBench('.venv-hf', ['--hf', 'qwen2', '--hf-size', 'learn', '--samples', '16', '--turns', '3', '--turn-bytes', '200', '--threads', '2'], 'trainer_demo_hf');
}

/** The same for a Hugging Face policy (Qwen2 config, size `small`, save_pretrained checkpoints), in the HF venv (`trainer/install.sh --hf`). */
async function benchTrainerHf(): Promise<Record<string, number>> {
  return runTrainerBench('.venv-hf', ['--hf', 'qwen2', '--hf-size', 'small'], 'trainer_hf');
}

const BENCHES: Record<string, Bench> = {
  sandbox: () => benchSandbox(),
  reward: () => benchReward(),
  episode: () => benchEpisode(),
  trainer: benchTrainer,
  'trainer-demo': benchTrainerDemo,
  'trainer-hf': benchTrainerHf,
  'trainer-demo-hf': benchTrainerDemoHf,
  'pretrain-demo': benchPretrainDemo,
  scale: () => benchScale(),
  fanout: () => benchFanout(),
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => a in BENCHES);
  // `scale` runs three systems at up to 16 episodes in flight: only when asked for by name.
  const names = wanted.length > 0 ? wanted : Object.keys(BENCHES).filter((n) => n !== 'scale');
  const results: Record<string, Record<string, number> | { error: string }> = {};
  for (const name of names) {
    const t0 = performance.now();
    try {
      results[name] = await BENCHES[name]!();
    } catch (err) {
      results[name] = { error: (err as Error).message };
    }
    console.error(`[bench] ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const doc = { at: new Date().toISOString(), host: { cpus: (await import('node:os')).cpus().length }, results };
  const rows: string[][] = [['bench', 'metric', 'value']];
  for (const [bench, metrics] of Object.entries(results)) {
    for (const [metric, value] of Object.entries(metrics)) rows.push([bench, metric, String(value)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.error(rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n'));
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(doc, null, 2)}\n`);
  console.log(JSON.stringify(doc));
  process.exit(0);
}

void main();
