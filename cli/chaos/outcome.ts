/**
 * Reads one run's outcome (compare.ts RunOutcome) from the world that ran it: swerl's Postgres
 * (iterations, episodes with their turns, reward results and task-stat events, trainer steps,
 * checkpoints), the trainer's own SQLite ledger, and the checkpoint files (sha256 of each file).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { TRAINER_DIR, TRAINER_PYTHON } from '../pythonProcess';
import { flattenMetrics, type OutcomeRecord, type OutcomeSection, type RunOutcome } from './compare';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function fileSha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('error', reject)
      .on('data', (b) => h.update(b))
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** The checkpoint id without its run prefix: the two worlds' runs share one id anyway, but keys stay short. */
const local = (id: string | null | undefined, runId: string): string | null => (id ? id.replace(`${runId}/`, '') : null);

const LEDGER_DUMP =
  'import json, sys\nfrom pathlib import Path\nfrom swerl_trainer.ledger import Ledger\nprint(json.dumps(Ledger(Path(sys.argv[1])).rows(sys.argv[2])))';

interface LedgerRow {
  stage: string;
  iteration: number;
  step: number;
  kind: string;
  input_digest: string;
  base_checkpoint: string;
  checkpoint_id: string;
  metrics: Record<string, unknown>;
}

/** The trainer's own ledger rows of one run (through its Ledger class, as the worker sees them). */
export async function readTrainerLedger(checkpointsRoot: string, runId: string): Promise<LedgerRow[]> {
  if (!existsSync(checkpointsRoot)) return [];
  const { stdout } = await promisify(execFile)(TRAINER_PYTHON, ['-c', LEDGER_DUMP, checkpointsRoot, runId], { cwd: TRAINER_DIR });
  return JSON.parse(stdout) as LedgerRow[];
}

async function episodeSection(client: pg.Client, runId: string): Promise<OutcomeSection> {
  const { rows } = await client.query<Record<string, unknown>>(
    `select e.id, e.stage, e.iteration, e.task_id, e.sample_idx, e.status, e.policy_version, e.exit_reason, e.turn_count,
            e.prompt_tokens, e.completion_tokens, e.reward, e.length_penalty, e.reward_final, e.patch, e.decoding,
            (select count(*)::int from task_stat_events s where s.episode_id = e.id) as stat_events,
            r.resolved, r.patch_applied, r.tests
       from episodes e left join reward_results r on r.episode_id = e.id
      where e.run_id = $1`,
    [runId],
  );
  const turns = await client.query<Record<string, unknown>>(
    `select t.episode_id, t.idx, t.role, t.text, t.token_ids, t.logprobs, t.tokens_ref, t.prompt_tokens, t.completion_tokens,
            t.format_error, t.tool, t.command, t.exit_code, t.output_truncated
       from turns t join episodes e on e.id = t.episode_id
      where e.run_id = $1 order by t.episode_id, t.idx`,
    [runId],
  );
  const byEpisode = new Map<string, unknown[]>();
  for (const t of turns.rows) {
    // Observation text is left out (EXCLUDED): what ran and how it ended is kept.
    const kept = t.role === 'assistant' || t.role === 'system' || t.role === 'user' ? t : { ...t, text: undefined };
    const list = byEpisode.get(String(t.episode_id)) ?? [];
    list.push(kept);
    byEpisode.set(String(t.episode_id), list);
  }
  const out: OutcomeSection = {};
  for (const e of rows) {
    const turnList = byEpisode.get(String(e.id)) ?? [];
    out[`${e.stage}/${e.iteration}/${e.task_id}/${e.sample_idx}`] = {
      id: e.id,
      status: e.status,
      policyVersion: local(e.policy_version as string, runId),
      exitReason: e.exit_reason,
      turnCount: e.turn_count,
      turnRows: turnList.length,
      turnsSha256: sha256(JSON.stringify(turnList)),
      promptTokens: e.prompt_tokens,
      completionTokens: e.completion_tokens,
      reward: e.reward,
      lengthPenalty: e.length_penalty,
      rewardFinal: e.reward_final,
      patchSha256: e.patch === null ? null : sha256(String(e.patch)),
      decoding: e.decoding,
      statEvents: e.stat_events,
      resolved: e.resolved,
      patchApplied: e.patch_applied,
      // Per-test durations are wall times (EXCLUDED); names, lists and outcomes are compared.
      tests: Array.isArray(e.tests) ? (e.tests as Array<Record<string, unknown>>).map(({ durationMs: _wall, ...t }) => t) : e.tests,
    };
  }
  return out;
}

async function checkpointSection(client: pg.Client, runId: string, checkpointsRoot: string): Promise<OutcomeSection> {
  const { rows } = await client.query<{ id: string; parent_id: string | null; kind: string; stage: string | null; iteration: number | null; metrics: unknown }>(
    'select id, parent_id, kind, stage, iteration, metrics from checkpoints where run_id = $1',
    [runId],
  );
  const out: OutcomeSection = {};
  for (const c of rows) {
    const dir = path.join(checkpointsRoot, c.id);
    const files: OutcomeRecord = {};
    if (existsSync(dir)) {
      for (const f of readdirSync(dir).sort()) {
        if (f === 'swerl_step.json') continue; // EXCLUDED: absolute path + wall-time metrics
        files[`sha256 ${f}`] = await fileSha256(path.join(dir, f));
      }
    } else {
      files.files = 'missing on disk';
    }
    out[`${c.stage}/${c.iteration}/${local(c.id, runId)}`] = { parent: local(c.parent_id, runId), kind: c.kind, ...flattenMetrics(c.metrics), ...files };
  }
  return out;
}

/** The outcome of `runId` as recorded in `databaseUrl` and under `checkpointsRoot`. */
export async function readOutcome(databaseUrl: string, checkpointsRoot: string, runId: string): Promise<RunOutcome> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 30_000 });
  client.on('error', () => undefined); // a dropped connection fails the query that uses it
  await client.connect();
  try {
    const iterations = await client.query<{ stage: string; idx: number; status: string; policy_version: string; output_checkpoint_id: string | null; metrics: unknown }>(
      'select stage, idx, status, policy_version, output_checkpoint_id, metrics from iterations where run_id = $1 order by started_at, stage, idx',
      [runId],
    );
    const completedIterations = iterations.rows.filter((r) => r.status === 'completed').map((r) => `${r.stage}/${r.idx}`);
    const iterationSection: OutcomeSection = Object.fromEntries(
      iterations.rows.map((r) => [
        `${r.stage}/${r.idx}`,
        { status: r.status, policyVersion: local(r.policy_version, runId), outputCheckpointId: local(r.output_checkpoint_id, runId), ...flattenMetrics(r.metrics) },
      ]),
    );
    const steps = await client.query<{ stage: string; iteration: number; step: number; kind: string; status: string; batch_digest: string; input_checkpoint_id: string; output_checkpoint_id: string | null; metrics: unknown }>(
      'select stage, iteration, step, kind, status, batch_digest, input_checkpoint_id, output_checkpoint_id, metrics from trainer_steps where run_id = $1',
      [runId],
    );
    const stepSection: OutcomeSection = Object.fromEntries(
      steps.rows.map((s) => [
        `${s.stage}/${s.iteration}/${s.step}`,
        { kind: s.kind, status: s.status, batchDigest: s.batch_digest, input: local(s.input_checkpoint_id, runId), output: local(s.output_checkpoint_id, runId), ...flattenMetrics(s.metrics) },
      ]),
    );
    const ledger = await readTrainerLedger(checkpointsRoot, runId);
    const ledgerSection: OutcomeSection = {};
    for (const r of ledger) {
      const key = `${r.stage}/${r.iteration}/${r.step}`;
      // A second row for one step key would be a step applied twice.
      const prior = ledgerSection[key];
      ledgerSection[key] = {
        rows: ((prior?.rows as number | undefined) ?? 0) + 1,
        kind: r.kind,
        inputDigest: r.input_digest,
        base: local(r.base_checkpoint, runId),
        checkpoint: local(r.checkpoint_id, runId),
        ...flattenMetrics(r.metrics),
      };
    }
    return {
      completedIterations,
      sections: {
        iterations: iterationSection,
        episodes: await episodeSection(client, runId),
        trainerSteps: stepSection,
        ledger: ledgerSection,
        checkpoints: await checkpointSection(client, runId, checkpointsRoot),
      },
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A number that grows whenever the run makes progress: turns persisted, episodes finished, steps applied. */
export async function progressCount(client: pg.ClientBase | pg.Pool, runId: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `select (select count(*) from turns t join episodes e on e.id = t.episode_id where e.run_id = $1)
          + (select count(*) from episodes where run_id = $1 and status <> 'pending' and status <> 'running')
          + (select count(*) from trainer_steps where run_id = $1 and status = 'applied')
          + (select count(*) from iterations where run_id = $1 and status = 'completed') as n`,
    [runId],
  );
  return Number(rows[0]?.n ?? 0);
}
