/**
 * The one configuration schema of a swerl run. Every knob is documented here once, with the value
 * of Golubev et al. (arXiv 2508.03501, see shared/PAPER.md) as its default where the paper gives
 * one. Presets in config/ (paper-stage1, paper-stage2, toy) are validated by this same schema.
 * Pure: parsing text (YAML/JSON) happens in the caller; this module validates plain objects.
 */
import { z } from 'zod';
import { DEFAULT_HOST_LOSS_SEC, DEFAULT_MAX_REBUILDS, DEFAULT_MAX_UNSCORED_FRACTION, DEFAULT_REWARD_INFRA_SEC } from './episodeLimits';
import { ConfigError, ErrorCodes } from './errors';

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const probability = z.number().min(0).max(1);

/**
 * Decoding parameters. The paper's lesson: a silent sampler change (top_k/min_p enabled) corrupted
 * importance ratios and collapsed training, so these are recorded per trajectory and must match
 * what the trainer expects. Paper: temperature 1.0, no top_p / top_k / min_p / repetition penalty.
 */
export const DecodingSchema = z.strictObject({
  temperature: z.number().positive().default(1.0),
  topP: z.number().gt(0).max(1).default(1.0).describe('1.0 = disabled (paper)'),
  topK: z.number().int().min(-1).default(-1).describe('-1 = disabled (paper)'),
  minP: probability.default(0).describe('0 = disabled (paper)'),
  repetitionPenalty: z.number().positive().default(1.0).describe('1.0 = disabled (paper)'),
  maxTokensPerTurn: positiveInt.default(4096).describe('cap on one assistant turn (our choice)'),
});
export type Decoding = z.infer<typeof DecodingSchema>;

/**
 * What the agent is told (core/prompt.ts). `swe-agent`: the paper's SWE-agent prompt with every
 * tool documented (~3.3 KB). `compact`: the same tools in a few lines, for small-context policies
 * such as the byte-level CPU model of the learning demo, where the long prompt would be most of
 * every training sequence.
 */
export const PromptStyleSchema = z.enum(['swe-agent', 'compact']);
export type PromptStyle = z.infer<typeof PromptStyleSchema>;

export const RetryPolicySchema = z.strictObject({
  initialIntervalMs: positiveInt.default(1_000),
  backoffCoefficient: z.number().min(1).default(2),
  maximumIntervalMs: positiveInt.default(60_000),
  maximumAttempts: nonNegativeInt.default(0).describe('0 = unlimited (infra failures are retried, not scored)'),
});
export type RetryPolicyConfig = z.infer<typeof RetryPolicySchema>;

export const SandboxLimitsSchema = z.strictObject({
  cpus: z.number().positive().default(0.5).describe('paper: a pod with 0.5 CPU'),
  memoryMiB: positiveInt.default(2048).describe('paper: 2 GiB'),
  diskMiB: positiveInt
    .optional()
    .describe('writable space per sandbox (read-only root, size-capped tmpfs mounts charged to its memory): ENOSPC inside past it; default memoryMiB / 2'),
  pidsLimit: positiveInt.default(256),
  outputLimitBytes: positiveInt.default(64 * 1024).describe('tool output beyond this is truncated with a marker'),
  commandTimeoutSec: positiveInt.default(120).describe('per tool command, enforced inside the container'),
  maxConcurrent: positiveInt.default(8).describe('lease cap per Docker host'),
  prewarm: nonNegativeInt.default(2).describe('pre-started containers kept per image'),
  poolMax: nonNegativeInt
    .optional()
    .describe('pre-started containers kept per Docker host over all images (default maxConcurrent): the least recently used image gives up an idle one first'),
  leaseTtlSec: positiveInt.default(3600).describe('a lease not renewed for this long is reaped'),
  user: z.string().default('1000:1000'),
  maxRebuilds: nonNegativeInt.default(DEFAULT_MAX_REBUILDS).describe('sandbox rebuilds per episode (lost host, killed container) before it ends as sandbox_lost'),
});

export const TimeoutsSchema = z.strictObject({
  policyTurnSec: positiveInt.default(600),
  toolExecSec: positiveInt.default(300),
  rewardSec: positiveInt.default(1800),
  trainStepSec: positiveInt.default(6 * 3600),
  heartbeatSec: positiveInt.default(30),
  hostLossSec: positiveInt
    .default(DEFAULT_HOST_LOSS_SEC)
    .describe('how long an episode waits for its sandbox host to come back before rebuilding its sandbox on another host'),
  rewardInfraSec: positiveInt
    .default(DEFAULT_REWARD_INFRA_SEC)
    .describe("how long an episode's reward may keep failing for infra reasons (Docker, its container, Postgres), from the first such failure, before the episode ends unscored (SWERL_REWARD_INFRA_EXHAUSTED)"),
  promoteWaitDays: positiveInt.default(30).describe('how long a run waits at a stage boundary for a human'),
  stallAfterSec: positiveInt
    .default(1800)
    .describe('a running run with no episode finished, no trainer step applied and no iteration started for this long is flagged as stalled (status, dashboard, metrics)'),
});

/** R_len = 0 if |τ| < freeTurns else (freeTurns − |τ|) / (T_max − freeTurns): −1 at T_max. */
export const LengthPenaltySchema = z.strictObject({
  enabled: z.boolean().default(true),
  freeTurns: positiveInt.default(10).describe('paper: 10'),
});

const stageBase = {
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes'),
  maxTurns: positiveInt.describe('T_max: paper 40 (RFT, stage 1), 80 (stage 2)'),
  contextTokens: positiveInt.describe('paper 65536 (RFT, stage 1), 131072 (stage 2, YaRN x4)'),
};

export const RftStageSchema = z.strictObject({
  kind: z.literal('rft'),
  ...stageBase,
  rolloutsPerTask: positiveInt.default(10).describe('paper: 10 rollouts per task with the base model'),
  epochs: positiveInt.default(1).describe('paper: 1 epoch SFT'),
  lr: z.number().positive().default(5e-6).describe('paper: 5e-6'),
  weightDecay: z.number().nonnegative().default(0.1).describe('paper: 0.1 (AdamW)'),
  batchSize: positiveInt.default(64).describe('paper: 64'),
  maskFormatErrors: z.boolean().default(true).describe('paper: format-error turns masked out of the loss'),
});

export const CurriculumSchema = z.strictObject({
  rule: z.enum(['all', 'drop-easy-and-unsolved']).default('all'),
  dropSolvedAtLeast: probability.default(2 / 3).describe('paper stage 2: drop tasks solved >= 2/3 of attempts'),
  dropNeverSolved: z.boolean().default(true).describe('paper stage 2: drop tasks never solved'),
  fromStages: z.array(z.string()).default([]).describe('stages whose task_stats feed the rule'),
});

export const RlStageSchema = z.strictObject({
  kind: z.literal('rl'),
  ...stageBase,
  iterations: positiveInt,
  problemsPerIteration: positiveInt.describe('P: paper 300 (stage 1), 100 (stage 2)'),
  groupSize: z.number().int().min(2).default(10).describe('G: paper 10 rollouts per problem'),
  batchSize: positiveInt.describe('paper 128 (stage 1), 256 (stage 2)'),
  lr: z.number().positive().default(1e-6).describe('paper: 1e-6'),
  clip: z
    .strictObject({
      low: z.number().positive().default(0.2),
      high: z.number().positive().default(0.3),
    })
    .default({ low: 0.2, high: 0.3 })
    .describe('asymmetric PPO clip (eps_low, eps_high): paper (0.2, 0.3) stage 1, (0.2, 0.26) stage 2'),
  gradClip: z.number().positive().default(1.0).describe('paper: 1.0'),
  epochsPerIteration: positiveInt.default(1).describe('paper: 1 epoch per iteration = 2-8 optimizer steps'),
  batchGrouping: z
    .enum(['episode', 'group'])
    .default('episode')
    .describe("how optimizer steps are cut: 'episode' shuffles rollouts (paper scale: many groups per step); 'group' keeps each problem's G rollouts in one step, so a small batch is whole within-group contrasts"),
  advantageEpsilon: z.number().positive().default(1e-6).describe('delta in (R - mean) / (std + delta)'),
  dropZeroAdvantage: z.boolean().default(true).describe('paper: dynamic sampling drops A = 0 samples'),
  lengthPenalty: LengthPenaltySchema.default({ enabled: true, freeTurns: 10 }),
  curriculum: CurriculumSchema.default({ rule: 'all', dropSolvedAtLeast: 2 / 3, dropNeverSolved: true, fromStages: [] }),
  evalEvery: nonNegativeInt.default(0).describe('run the eval split every N iterations (0 = only at the end)'),
});

export const EvalStageSchema = z.strictObject({
  kind: z.literal('eval'),
  ...stageBase,
  runs: positiveInt.default(10).describe('k independent runs per task: Pass@1 mean +/- SEM, Pass@k (paper: 10)'),
});

export const StageSchema = z.discriminatedUnion('kind', [RftStageSchema, RlStageSchema, EvalStageSchema]);
export type StageConfig = z.infer<typeof StageSchema>;
export type RftStageConfig = z.infer<typeof RftStageSchema>;
export type RlStageConfig = z.infer<typeof RlStageSchema>;
export type EvalStageConfig = z.infer<typeof EvalStageSchema>;

export const PromotionSchema = z.strictObject({
  requireHuman: z.boolean().default(true).describe('wait for the promote Update at each stage boundary'),
  minPass1: probability.default(0).describe('eval gate: Pass@1 the stage must reach to promote without force'),
  gateSplit: z
    .string()
    .min(1)
    .optional()
    .describe('task split the gate eval at a stage boundary runs on (e.g. validation, so gates never look at the test split); absent = tasks.evalSplit'),
});

export const RolloutSchema = z.strictObject({
  maxConcurrentEpisodes: positiveInt
    .optional()
    .describe('episodes of one iteration (or eval) in flight at once; the next starts when one ends. Absent = all at once (paper: P x G per iteration)'),
  shardEpisodes: positiveInt
    .max(2_000)
    .optional()
    .describe('episode children of one leaf shard workflow (core/fanout.ts; default 500, Temporal allows 2,000 pending children)'),
  shardBranching: z.number().int().min(2).max(2_000).optional().describe('child shards of one inner shard workflow (default 100)'),
  maxUnscoredFraction: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe(`the share of an iteration's episodes that may end unscored (infra_failure, sandbox_lost) before the iteration fails with SWERL_UNSCORED_FRACTION_EXCEEDED (default ${DEFAULT_MAX_UNSCORED_FRACTION})`),
});

export const TrackingSchema = z.strictObject({
  tracker: z
    .enum(['none', 'tensorboard'])
    .default('none')
    .describe("where `swerl track RUN` writes the run's iteration metrics, evals and sampled trajectories: TensorBoard event files, or nowhere (then only `--tensorboard DIR` exports)"),
  dir: z.string().min(1).optional().describe('the tracker\'s log directory; default <SWERL_HOME or .swerl>/tracking/<run id>'),
  samplesPerIteration: nonNegativeInt.default(2).describe('trajectories sampled per iteration (the best and the worst)'),
});
export type TrackingConfig = z.infer<typeof TrackingSchema>;

/**
 * The architectures the learning demo pre-trains a base in (issue #16): `native` (swerl's GPT with a
 * word tokenizer, on the native venv's torch 1.13) or a transformers Qwen2 / Llama config of the same
 * size with a byte-level BPE tokenizer trained here, on the HF venv.
 */
export const BASE_ARCHS = ['native', 'qwen2', 'llama'] as const;
export type BaseArch = (typeof BASE_ARCHS)[number];

export const RunConfigSchema = z
  .strictObject({
    name: z.string().min(1).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash, underscore'),
    seed: nonNegativeInt.default(0),
    model: z.strictObject({
      base: z.string().min(1).describe('checkpoint id or path of the base policy'),
      arch: z
        .enum(BASE_ARCHS)
        .optional()
        .describe(
          "the architecture of a base the demo pre-trains (model.base names a pre-training preset, e.g. learn-base): native (swerl's GPT, trainer/.venv) or a transformers config of the same size (qwen2, llama; trainer/.venv-hf). `demo --arch` overrides it; unset = native",
        ),
    }),
    policy: z
      .strictObject({
        url: z.string().url().optional().describe('OpenAI-compatible endpoint; unset = the local trainer server'),
        model: z
          .string()
          .default('swerl-policy')
          .describe("model name sent with every request: the alias of the version being served (the trainer server's --served-model-name, vLLM's second --served-model-name)"),
        pinVersion: z
          .boolean()
          .optional()
          .describe('true: send the policy version (checkpoint id) as the model name instead, so a server serving another version refuses the request (404) rather than sampling from it'),
        decoding: DecodingSchema.default(DecodingSchema.parse({})),
        requestTimeoutSec: positiveInt.default(600),
        prompt: PromptStyleSchema.default('swe-agent'),
        maxLogprobMismatch: z
          .number()
          .positive()
          .optional()
          .describe('pause the run (SWERL_LOGPROB_MISMATCH) when an RL iteration\'s mean |rollout logprob - trainer logprob| over action tokens, measured before each update step, exceeds this; absent = measured and reported only'),
        seedScheme: z
          .enum(['per-sample', 'per-task'])
          .default('per-sample')
          .describe("sampler seed per episode: 'per-task' = own stream per (stage, iteration, task, sample); 'per-sample' = shared by every task of a sample index (what the toy demo's parity-routed scripted policy relies on)"),
      })
      .default({ model: 'swerl-policy', decoding: DecodingSchema.parse({}), requestTimeoutSec: 600, prompt: 'swe-agent', seedScheme: 'per-sample' }),
    tasks: z.strictObject({
      suite: z.string().min(1).describe('JSONL file of tasks (SWE-bench form) or a suite name'),
      evalSplit: z.string().default('eval').describe('split name held out for evaluation'),
      maxFilesChanged: positiveInt.default(7).describe('paper filter: gold patch touches <= 7 files'),
      maxChangedLines: positiveInt.default(499).describe('paper filter: < 500 changed lines'),
      repoSources: z
        .array(z.string().min(1))
        .default([])
        .describe("where a task's `repo` (owner/name) is found when its line has no repo_path: local directories (relative to the config file) and URL templates with {repo}, {owner}, {name}, e.g. https://github.com/{repo}.git; tried in order"),
    }),
    stages: z.array(StageSchema).min(1),
    sandbox: SandboxLimitsSchema.default(SandboxLimitsSchema.parse({})),
    timeouts: TimeoutsSchema.default(TimeoutsSchema.parse({})),
    retry: RetryPolicySchema.default(RetryPolicySchema.parse({})),
    promotion: PromotionSchema.default(PromotionSchema.parse({})),
    rollout: RolloutSchema.optional().describe('how episodes of one iteration are started; absent = all at once'),
    tracking: TrackingSchema.optional().describe('the experiment tracker of this run (`swerl track RUN`); absent = none'),
  })
  .superRefine((cfg, ctx) => {
    const names = new Set<string>();
    cfg.stages.forEach((stage, i) => {
      if (names.has(stage.name)) {
        ctx.addIssue({ code: 'custom', path: ['stages', i, 'name'], message: `duplicate stage name "${stage.name}"` });
      }
      names.add(stage.name);
      if (stage.kind === 'rl') {
        if (stage.lengthPenalty.enabled && stage.lengthPenalty.freeTurns >= stage.maxTurns) {
          ctx.addIssue({ code: 'custom', path: ['stages', i, 'lengthPenalty', 'freeTurns'],
            message: `must be below maxTurns (${stage.maxTurns}) for R_len to be defined` });
        }
        for (const [j, from] of stage.curriculum.fromStages.entries()) {
          if (!cfg.stages.slice(0, i).some((s) => s.name === from)) {
            ctx.addIssue({ code: 'custom', path: ['stages', i, 'curriculum', 'fromStages', j],
              message: `"${from}" is not an earlier stage` });
          }
        }
      }
    });
  });

export type RunConfig = z.infer<typeof RunConfigSchema>;
export type RunConfigInput = z.input<typeof RunConfigSchema>;

export interface ConfigViolation {
  path: string;
  message: string;
}

function pathToString(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '') || '(root)';
}

/** Validates a plain object; throws a ConfigError listing every violation with its path. */
export function parseRunConfig(input: unknown, source = 'config'): RunConfig {
  const result = RunConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const violations: ConfigViolation[] = result.error.issues.map((issue) => ({
    path: pathToString(issue.path),
    message: issue.message,
  }));
  throw new ConfigError(
    ErrorCodes.CONFIG_INVALID,
    `${source} has ${violations.length} violation(s):\n${violations.map((v) => `  ${v.path}: ${v.message}`).join('\n')}`,
    { source, violations },
  );
}
