/**
 * `swerl demo` interrupted by SIGINT sent to its node process alone (not to its process group, as a
 * terminal's Ctrl-C would): every Python process it started (policy server, trainer worker) must
 * go, and so must the sandboxes its rollout workers held, before it exits. Real processes, real
 * Temporal, Postgres and Docker: the demo runs from the CLI on a tiny seeded base (`--base`) and a
 * two-task copy of the learn suite whose eval stage keeps episodes in flight when the signal comes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRunConfig } from '../../config/load';
import { CHECKPOINTS_DIR, TRAINER_DIR, TRAINER_PYTHON } from '../../cli/pythonProcess';
import { Labels } from '../../activities/sandbox';
import { waitUntil } from '../harness/poll';
import { testEndpoints } from '../harness/stack';

const ROOT = path.join(__dirname, '..', '..');
const LEARN_SUITE = path.join(ROOT, 'tasks', 'learn', 'tasks.jsonl');
const SCOPE = `demo-interrupt-${randomUUID().slice(0, 8)}`;
const BASE_ID = `test-demo-interrupt-${randomUUID().slice(0, 8)}`;
/** Starting the demo (stack check, task import, torch in two Python processes, task images) and its first sandboxes, under load. */
const STARTED_MS = 360_000;
/** The demo's own release bound (120 s by default) and its exit. */
const EXITED_MS = 200_000;

const docker = new Docker();
let work: string;
let demo: ChildProcess | undefined;
let output = '';
let workflowId: string | undefined;
let runId: string | undefined;

/** The process's state letter from /proc (undefined: no such process). A zombie ('Z') is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}
const alive = (pid: number): boolean => {
  const s = procState(pid);
  return s !== undefined && s !== 'Z';
};

/** Pids of the live children of `ppid` whose command line contains `needle`. */
function childrenOf(ppid: number, needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== ppid || fields[0] === 'Z') continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

async function runContainers(run: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${Labels.run}=${run}`, `${Labels.scope}=${SCOPE}`] } });
  return list.map((c) => c.Id);
}

beforeAll(() => {
  if (!existsSync(TRAINER_PYTHON)) throw new Error(`the trainer's venv is missing (${TRAINER_PYTHON}): run \`bash scripts/bootstrap.sh\``);
  work = mkdtempSync(path.join(tmpdir(), 'swerl-demo-interrupt-'));
  // A seeded tiny base with room for the learn prompts in bytes: slow enough turns that episodes are in flight.
  mkdirSync(CHECKPOINTS_DIR, { recursive: true });
  const made = spawnSync(
    TRAINER_PYTHON,
    ['-c', 'import sys; from pathlib import Path; from swerl_trainer import checkpoint as c; c.create_base(Path(sys.argv[1]), sys.argv[2], preset="tiny", max_seq_len=8192)', CHECKPOINTS_DIR, BASE_ID],
    { cwd: TRAINER_DIR, encoding: 'utf8', timeout: 180_000 },
  );
  if (made.status !== 0) throw new Error(`creating the base checkpoint failed: ${made.stderr}`);
  // Two tasks of the learn suite as a suite of their own (suite `demo-interrupt`: a task belongs to
  // the suite that imported it first, so the ids are renamed), one eval stage of many runs.
  const lines = readFileSync(LEARN_SUITE, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const picked = lines.filter((t) => t.split === 'validation').slice(0, 2);
  const suite = path.join(work, 'demo-interrupt.jsonl');
  const copy = (t: Record<string, unknown>) => ({
    ...t,
    instance_id: String(t.instance_id).replace(/^learn__/, 'demointerrupt__'),
    repo_path: path.resolve(path.dirname(LEARN_SUITE), String(t.repo_path)),
  });
  writeFileSync(suite, picked.map((t) => JSON.stringify(copy(t))).join('\n') + '\n');
  const learn = loadRunConfig('learn');
  const evalStage = { kind: 'eval', name: 'eval', maxTurns: 4, contextTokens: 1280, runs: 50 };
  // The seeded base is native (trainer/.venv, which the bootstrap installs; learn.yaml's default
  // qwen2 would need trainer/.venv-hf, installed later in the test command).
  const model = { ...learn.model, arch: 'native' };
  writeFileSync(path.join(work, 'config.json'), JSON.stringify({ ...learn, name: 'demo-interrupt', model, tasks: { ...learn.tasks, suite, evalSplit: 'validation' }, stages: [evalStage] }));
});

afterAll(async () => {
  if (demo?.pid !== undefined) {
    try {
      process.kill(-demo.pid, 'SIGKILL'); // its process group: whatever the demo left behind
    } catch {
      // gone
    }
  }
  if (runId) for (const id of await runContainers(runId).catch(() => [])) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
  if (workflowId) {
    const connection = await Connection.connect({ address: testEndpoints().temporalAddress });
    try {
      await new Client({ connection, namespace: testEndpoints().temporalNamespace }).workflow.getHandle(workflowId).terminate('demoInterrupt test over').catch(() => undefined);
    } finally {
      await connection.close();
    }
  }
  rmSync(path.join(CHECKPOINTS_DIR, BASE_ID), { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('swerl demo on SIGINT to its node process', () => {
  it('stops the policy server and the trainer worker it started and removes its sandboxes before it exits', async () => {
    demo = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'demo', '--config', path.join(work, 'config.json'), '--base', BASE_ID], {
      cwd: ROOT,
      env: { ...process.env, SWERL_SANDBOX_SCOPE: SCOPE },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that the test signals the node process alone and afterAll can clean up the group.
      detached: true,
    });
    const pid = demo.pid!;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => demo!.once('exit', (code, signal) => resolve({ code, signal })));
    let done: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void exited.then((e) => (done = e));
    demo.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    demo.stderr!.on('data', (b: Buffer) => (output += b.toString()));

    let server: number | undefined;
    let trainer: number | undefined;
    let held: string[] = [];
    await waitUntil(
      'the policy server, the trainer worker and a sandbox of the run',
      async () => {
        if (done) throw new Error(`the demo exited early (${JSON.stringify(done)}):\n${output}`);
        server ??= childrenOf(pid, 'swerl_trainer.server')[0];
        trainer ??= childrenOf(pid, 'swerl_trainer.worker')[0];
        const started = /run (\S+) started: \S+\/workflows\/(\S+)/.exec(output);
        if (started) [, runId, workflowId] = started;
        if (server === undefined || trainer === undefined || !runId) return false;
        held = await runContainers(runId);
        return held.length > 0;
      },
      STARTED_MS,
      500,
    );

    process.kill(pid, 'SIGINT');
    await Promise.race([exited, new Promise((_, reject) => setTimeout(() => reject(new Error(`the demo did not exit ${EXITED_MS / 1000} s after SIGINT:\n${output}`)), EXITED_MS).unref())]);
    expect(done, output).toEqual({ code: 130, signal: null });
    expect(output).toMatch(/SIGINT: stopping the demo/);
    // Its Python children end on SIGTERM; their exit may trail the demo's by their shutdown.
    await waitUntil('the policy server and the trainer worker to exit', () => !alive(server!) && !alive(trainer!), 30_000).catch(() => undefined);
    expect({ policyServer: alive(server!), trainerWorker: alive(trainer!) }).toEqual({ policyServer: false, trainerWorker: false });
    expect(held.length).toBeGreaterThan(0);
    expect(await runContainers(runId!)).toEqual([]);
  }, STARTED_MS + EXITED_MS + 60_000);
});
