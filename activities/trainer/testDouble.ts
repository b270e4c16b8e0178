/**
 * A deterministic stand-in for the Python trainer, for orchestration tests: an in-process Temporal
 * activity worker on a task queue the test chooses, registering the contract's activity names
 * (sft_step, rl_step, trainer_ledger, load_policy) and honouring its guarantees with its own ledger:
 * - a step key already applied returns the recorded output (never applied twice);
 * - the same key with another input is SWERL_TRAINER_STEP_CONFLICT (final);
 * - a Postgres batch whose episodes were sampled with other decoding parameters than
 *   `decoding_expected` is SWERL_DECODING_MISMATCH (final), as the real trainer refuses it.
 * No weights move: the "checkpoint" is a name, and the metrics are pure functions of the batch.
 * `crashAfterApply` simulates a trainer that applied a step and died before answering, so tests
 * can watch the retry find the ledger row instead of training again.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import pg from 'pg';
import { ErrorCodes } from '../../core/errors';
import {
  batchConnectionString,
  checkpointIdFor,
  decodingDifferences,
  type LedgerRow,
  type LoadPolicyInput,
  type LoadPolicyOutput,
  type StepInput,
  type StepKey,
  type StepOutput,
  type TrainerActivities,
} from './contract';

export interface TrainerDoubleOptions {
  temporalAddress: string;
  namespace?: string;
  taskQueue: string;
  /**
   * The server Postgres batches name a database on, as the real trainer's --database-url;
   * default $SWERL_DATABASE_URL.
   */
  databaseUrl?: string;
  /** Number of step calls that apply and then fail with a retryable SWERL_TRAINER_FAILED. */
  crashAfterApply?: number;
  /** RL steps report this training–inference logprob mismatch (the real trainer measures it). */
  logprobMismatch?: { mean: number; max: number };
}

export interface TrainerDouble {
  taskQueue: string;
  /** The activity implementations, for calling the contract directly (no activity context needed). */
  activities: TrainerActivities;
  /** Every applied step, in order of application. */
  ledger(run?: string): LedgerRow[];
  /** Calls per step key (`run/stage/iteration/step`), retries and duplicates included. */
  calls: Map<string, number>;
  /** Times each key was applied: exactly-once means every value is 1. */
  applications: Map<string, number>;
  /** Checkpoints load_policy was asked to serve, in order. */
  loads: string[];
  crashesInjected: number;
  /**
   * Holds the next call of step `key` (`run/stage/iteration/step`) before it applies: `entered`
   * resolves when that call arrives, `release` lets it go on. For killing others mid-step.
   */
  hold(key: string): { entered: Promise<void>; release(): void };
  /** Postgres batches read, by reference form: `database` (current) or legacy `dsn`. */
  batchRefs: { database: number; dsn: number };
  close(): Promise<void>;
}

function keyString(k: StepKey): string {
  return `${k.run}/${k.stage}/${k.iteration}/${k.step}`;
}

/** Key order must not change the digest: the Python side sorts keys too. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function fail(code: string, message: string, details: Record<string, unknown>, retryable = false): ApplicationFailure {
  return ApplicationFailure.create({ type: code, message: `${code}: ${message}`, details: [details], nonRetryable: !retryable });
}

export async function startTrainerDouble(opts: TrainerDoubleOptions): Promise<TrainerDouble> {
  const rows: LedgerRow[] = [];
  const byKey = new Map<string, LedgerRow>();
  const calls = new Map<string, number>();
  const applications = new Map<string, number>();
  const loads: string[] = [];
  const pools = new Map<string, pg.Pool>();
  let crashesLeft = opts.crashAfterApply ?? 0;
  const holds = new Map<string, { enter(): void; released: Promise<void> }>();
  /** Every hold's release: closing lets a held call finish instead of hanging the worker's shutdown. */
  const releasers: Array<() => void> = [];
  const state = { crashesInjected: 0 };

  const databaseUrl = opts.databaseUrl ?? process.env.SWERL_DATABASE_URL;
  /** Reference shapes seen, so tests can tell a legacy DSN batch from a database-name one. */
  const refs = { database: 0, dsn: 0 };

  const poolFor = (dsn: string): pg.Pool => {
    let pool = pools.get(dsn);
    if (!pool) {
      pool = new pg.Pool({ connectionString: dsn, max: 2 });
      pool.on('error', () => {});
      pools.set(dsn, pool);
    }
    return pool;
  };

  /** Reads what the trainer would read and checks it the way the trainer does. */
  async function checkBatch(kind: 'sft' | 'rl', input: StepInput): Promise<{ samples: number; advantages: number[] }> {
    const batch = input.batch;
    if (batch.kind === 'inline') {
      return { samples: batch.samples.length, advantages: batch.samples.map((s) => s.advantage ?? 0) };
    }
    if (batch.episode_ids.length === 0) throw fail('SWERL_TRAINER_BAD_BATCH', 'batch has no episodes', { step: input.step_key });
    if (kind === 'rl' && batch.advantages?.length !== batch.episode_ids.length) {
      throw fail('SWERL_TRAINER_BAD_BATCH', `rl batch has ${batch.episode_ids.length} episodes but ${batch.advantages?.length ?? 0} advantages`, { step: input.step_key });
    }
    let connectionString: string;
    try {
      connectionString = batchConnectionString(batch, databaseUrl);
    } catch (err) {
      throw fail(ErrorCodes.TRAINER_FAILED, err instanceof Error ? err.message : String(err), { step: input.step_key }, true);
    }
    refs['dsn' in batch ? 'dsn' : 'database'] += 1;
    const { rows: found } = await poolFor(connectionString).query<{ id: string; decoding: Record<string, unknown> }>(
      'select id, decoding from episodes where id = any($1)',
      [batch.episode_ids],
    );
    const missing = batch.episode_ids.filter((id) => !found.some((r) => r.id === id));
    if (missing.length > 0) throw fail('SWERL_TRAINER_BAD_BATCH', `episodes not found: ${missing.slice(0, 3).join(', ')}`, { missing });
    if (input.decoding_expected) {
      for (const row of found) {
        const diff = decodingDifferences(row.decoding, input.decoding_expected as unknown as Record<string, unknown>);
        if (diff.length > 0) {
          throw fail(ErrorCodes.DECODING_MISMATCH, `episode ${row.id} was sampled with other decoding than the trainer expects (${diff.join('; ')})`, {
            episodeId: row.id,
            differences: diff,
          });
        }
      }
    }
    return { samples: batch.episode_ids.length, advantages: batch.advantages ?? batch.episode_ids.map(() => 0) };
  }

  async function step(kind: 'sft' | 'rl', input: StepInput): Promise<StepOutput> {
    if (kind === 'rl' && !input.decoding_expected) {
      throw fail('SWERL_TRAINER_BAD_BATCH', 'rl_step needs decoding_expected: ratios are meaningless without it', { step: input.step_key });
    }
    const key = keyString(input.step_key);
    calls.set(key, (calls.get(key) ?? 0) + 1);
    const held = holds.get(key);
    if (held) {
      holds.delete(key);
      held.enter();
      await held.released;
    }
    const digest = createHash('sha256')
      .update(canonicalJson({ base_checkpoint: input.base_checkpoint, batch: input.batch, hyper: input.hyper, decoding_expected: input.decoding_expected }))
      .digest('hex');
    const recorded = byKey.get(key);
    if (recorded) {
      if (recorded.input_digest !== digest) {
        throw fail(ErrorCodes.TRAINER_STEP_CONFLICT, `step ${key} was applied with another input`, { step: input.step_key });
      }
      return { checkpoint_id: recorded.checkpoint_id, checkpoint_path: recorded.checkpoint_path, metrics: recorded.metrics };
    }
    const { samples, advantages } = await checkBatch(kind, input);
    const negative = advantages.filter((a) => a < 0).length;
    const checkpointId = checkpointIdFor(input.step_key);
    const row: LedgerRow = {
      ...input.step_key,
      kind,
      input_digest: digest,
      base_checkpoint: input.base_checkpoint,
      checkpoint_id: checkpointId,
      checkpoint_path: `double://${checkpointId}`,
      metrics: {
        loss: advantages.reduce((a, x) => a + Math.abs(x), 0) / Math.max(1, samples),
        // Deterministic stand-in: the share of samples pushed down, scaled into a plausible range.
        clip_fraction: kind === 'rl' ? (0.1 * negative) / Math.max(1, samples) : 0,
        tokens: samples * 100,
        samples,
        tokens_per_sec: 1000,
        grad_norm: 1,
        ...(kind === 'rl' && opts.logprobMismatch
          ? { logprob_mismatch_mean: opts.logprobMismatch.mean, logprob_mismatch_max: opts.logprobMismatch.max, logprob_mismatch_tokens: samples * 100 }
          : {}),
      },
      created_at: Date.now() / 1000,
    };
    byKey.set(key, row);
    rows.push(row);
    applications.set(key, (applications.get(key) ?? 0) + 1);
    if (crashesLeft > 0) {
      crashesLeft -= 1;
      state.crashesInjected += 1;
      throw fail(ErrorCodes.TRAINER_FAILED, `injected crash after applying ${key}`, { step: input.step_key }, true);
    }
    return { checkpoint_id: row.checkpoint_id, checkpoint_path: row.checkpoint_path, metrics: row.metrics };
  }

  const activities: TrainerActivities = {
    sft_step: (input) => step('sft', input),
    rl_step: (input) => step('rl', input),
    trainer_ledger: async ({ run }) => rows.filter((r) => r.run === run),
    load_policy: async (input: LoadPolicyInput): Promise<LoadPolicyOutput> => {
      loads.push(input.checkpoint_id);
      return { checkpoint_id: input.checkpoint_id, loaded: true };
    },
  };

  const connection = await NativeConnection.connect({ address: opts.temporalAddress });
  const worker = await Worker.create({ connection, namespace: opts.namespace ?? 'default', taskQueue: opts.taskQueue, activities });
  const running = worker.run();
  return {
    taskQueue: opts.taskQueue,
    activities,
    ledger: (run) => rows.filter((r) => run === undefined || r.run === run),
    calls,
    applications,
    hold(key) {
      let enter!: () => void;
      let release!: () => void;
      const entered = new Promise<void>((r) => (enter = r));
      const released = new Promise<void>((r) => (release = r));
      holds.set(key, { enter, released });
      releasers.push(release);
      return { entered, release };
    },
    loads,
    batchRefs: refs,
    get crashesInjected() {
      return state.crashesInjected;
    },
    async close() {
      for (const release of releasers) release();
      worker.shutdown();
      await running.catch(() => {});
      await connection.close().catch(() => {});
      await Promise.all([...pools.values()].map((p) => p.end().catch(() => {})));
    },
  };
}
