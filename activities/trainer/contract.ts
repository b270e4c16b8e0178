/**
 * The trainer contract (trainer/contract.schema.json) as TypeScript types. snake_case on the wire,
 * exactly as the Python worker on task queue `trainer` reads it; workflows call these activities
 * by name through proxyActivities typed by `TrainerActivities`.
 *
 * Idempotency: a step key (run, stage, iteration, step) already in the trainer's ledger returns the
 * recorded result without training again; the same key with another input is
 * SWERL_TRAINER_STEP_CONFLICT. A batch whose recorded decoding differs from `decoding_expected`
 * is SWERL_DECODING_MISMATCH (final, never retried).
 */
import { ErrorCodes, TrainerError } from '../../core/errors';

export interface StepKey {
  run: string;
  stage: string;
  iteration: number;
  step: number;
}

export interface WireDecoding {
  temperature: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
}

export interface WireTurn {
  role: 'system' | 'user' | 'assistant' | 'tool';
  text: string;
  token_ids?: number[];
  logprobs?: Array<number | null>;
  format_error?: boolean;
}

export interface WireSample {
  episode_id?: string;
  advantage?: number;
  decoding?: WireDecoding;
  turns: WireTurn[];
}

export interface InlineBatch {
  kind: 'inline';
  samples: WireSample[];
}

/**
 * Trajectories by reference: the trainer reads episodes.decoding and turns itself, from the
 * database `database` on the Postgres server it is configured for (its --database-url /
 * SWERL_DATABASE_URL), so no credential enters workflow history.
 */
export interface PostgresBatch {
  kind: 'postgres';
  database: string;
  episode_ids: string[];
  /** rl_step: advantages[i] belongs to episode_ids[i]. */
  advantages?: number[];
}

/**
 * The reference of histories recorded before the `swerl-batch-ref-no-dsn` patch: a full DSN,
 * password included. Still accepted so that those runs finish; never produced by new code.
 */
export interface LegacyPostgresDsnBatch {
  kind: 'postgres';
  dsn: string;
  episode_ids: string[];
  advantages?: number[];
}

/** Where a Postgres batch's rows are, without the rows: either reference form. */
export type PostgresBatchSource = Pick<PostgresBatch, 'kind' | 'database'> | Pick<LegacyPostgresDsnBatch, 'kind' | 'dsn'>;

/**
 * The connection string a trainer uses for a Postgres batch: a legacy batch's own DSN, else the
 * trainer's configured server URL with the batch's database name. Mirrors
 * trainer/swerl_trainer/pg_batch.py connection_string.
 */
export function batchConnectionString(batch: PostgresBatchSource, trainerDatabaseUrl: string | undefined): string {
  if ('dsn' in batch) return batch.dsn;
  if (!trainerDatabaseUrl) {
    throw new TrainerError(ErrorCodes.TRAINER_FAILED, `batch reads database ${batch.database} but this trainer has no database URL: set SWERL_DATABASE_URL`, {
      database: batch.database,
    });
  }
  const url = new URL(trainerDatabaseUrl);
  url.pathname = `/${encodeURIComponent(batch.database)}`;
  return url.toString();
}

export interface Hyper {
  lr: number;
  weight_decay: number;
  grad_clip: number;
  eps_low?: number;
  eps_high?: number;
  micro_batch_tokens: number;
  loss?: 'dapo';
  mask_format_errors?: boolean;
}

export interface StepInput {
  step_key: StepKey;
  base_checkpoint: string;
  batch: InlineBatch | PostgresBatch | LegacyPostgresDsnBatch;
  hyper: Hyper;
  /** Required for rl_step; checked for sft_step when given. */
  decoding_expected?: WireDecoding;
}

export interface StepMetrics {
  loss: number;
  clip_fraction: number;
  approx_kl?: number;
  tokens: number;
  sequence_tokens?: number;
  samples?: number;
  micro_batches?: number;
  seconds?: number;
  tokens_per_sec: number;
  grad_norm: number;
  /** rl: mean |rollout logprob − trainer logprob| over action tokens, before the optimizer step (training–inference mismatch). */
  logprob_mismatch_mean?: number;
  /** rl: the largest such gap. */
  logprob_mismatch_max?: number;
  logprob_mismatch_tokens?: number;
}

export interface StepOutput {
  /** `<run>/<stage>/i<iteration:04d>-s<step:04d>` */
  checkpoint_id: string;
  checkpoint_path: string;
  metrics: StepMetrics;
}

export interface LedgerRow {
  run: string;
  stage: string;
  iteration: number;
  step: number;
  kind: 'sft' | 'rl';
  input_digest: string;
  base_checkpoint: string;
  checkpoint_id: string;
  checkpoint_path: string;
  metrics: StepMetrics;
  created_at: number;
}

export interface LoadPolicyInput {
  checkpoint_id: string;
}

export interface LoadPolicyOutput {
  checkpoint_id: string;
  loaded: boolean;
}

/** The activity names the Python worker registers; a TS test double registers the same. */
export interface TrainerActivities {
  sft_step(input: StepInput): Promise<StepOutput>;
  rl_step(input: StepInput): Promise<StepOutput>;
  trainer_ledger(input: { run: string }): Promise<LedgerRow[]>;
  load_policy(input: LoadPolicyInput): Promise<LoadPolicyOutput>;
}

export function checkpointIdFor(key: StepKey): string {
  const pad = (n: number) => String(n).padStart(4, '0');
  return `${key.run}/${key.stage}/i${pad(key.iteration)}-s${pad(key.step)}`;
}

/**
 * Normalises either spelling (the contract accepts camelCase too) to the sampler parameters that
 * change the distribution; disabled values collapse to one canonical form (top_k 0 ≡ −1).
 */
export function canonicalDecoding(d: Record<string, unknown>): Required<WireDecoding> {
  const num = (snake: string, camel: string, dflt: number): number => {
    const v = d[snake] ?? d[camel];
    return typeof v === 'number' ? v : dflt;
  };
  const topK = num('top_k', 'topK', -1);
  return {
    temperature: num('temperature', 'temperature', 1),
    top_p: num('top_p', 'topP', 1),
    top_k: topK === 0 ? -1 : topK,
    min_p: num('min_p', 'minP', 0),
    repetition_penalty: num('repetition_penalty', 'repetitionPenalty', 1),
  };
}

/** The parameters on which two decodings differ; empty = they sample the same distribution. */
export function decodingDifferences(recorded: Record<string, unknown>, expected: Record<string, unknown>): string[] {
  const a = canonicalDecoding(recorded);
  const b = canonicalDecoding(expected);
  return (Object.keys(a) as Array<keyof typeof a>).filter((k) => a[k] !== b[k]).map((k) => `${k}: recorded ${a[k]}, expected ${b[k]}`);
}
