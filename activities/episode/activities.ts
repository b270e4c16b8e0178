/**
 * The episode's activities. `shared` ones run on any rollout worker (queue swerl-rollout); `host`
 * ones run on the worker that holds the sandbox (its own queue). All of them are retry-safe:
 * every write is keyed by (episode, turn idx), a persisted turn is returned instead of redone, and
 * retryable failures are counted on the episode before they are re-thrown to Temporal.
 */
import { Context, log } from '@temporalio/activity';
import { innerRenderOptions, parseAction, renderActionCommand, renderFormatErrorCommand } from '../../core/actions';
import { ErrorCodes, SandboxError, SwerlError, errorCodeOf, toTemporalFailure } from '../../core/errors';
import { extractSubmission } from '../../core/observation';
import { instancePrompt, systemPrompt } from '../../core/prompt';
import { rewardBreakdown } from '../../core/rl/reward';
import { assistantIdx, estimateTokens, INSTANCE_IDX, messagesBefore, nextAgentTurn, observationIdx, SYSTEM_IDX } from '../../core/transcript';
import { isTestPath } from '../../core/tasks';
import { toDbError } from '../../db/client';
import { completeEpisode, createEpisode, failEpisode, getEpisode, markEpisodeRunning, recordHarnessCrash, recordInfraFailure } from '../../db/episodes';
import { getTask } from '../../db/tasks';
import { appendTurn, asStored, getTurn, listTurns, type NewTurn, type Turn } from '../../db/turns';
import type { Episode } from '../../db/episodes';
import { measureTurnPhase } from '../../workers/metrics';
import { gradePatch } from './grading';
import { setEpisodePatch } from './patch';
import { complete } from '../policy/client';
import { recordReward, REWARD_MAX_ATTEMPTS } from '../reward';
import type { Sandbox } from '../sandbox';
import { buildSandbox, foreignLeaseOf, releaseContainer, sandboxOf, type HostContext } from './sandboxes';
import { specOf } from './sandboxes';
import type { EpisodeInput } from '../../workflows/episode';
import type { EpisodeActivities, EpisodeScoreSummary, EpisodeSpec, HostActivities, PolicyStep, SandboxSettings, SegmentResult } from './types';

/**
 * Runs an activity body. A retried attempt counts one infra failure on the episode first (the
 * previous attempt died: worker killed, host lost, policy 5xx, Postgres down), so every failed
 * attempt is counted exactly once, whatever killed it. Errors reach Temporal typed by their code;
 * transient Postgres errors become the retryable SWERL_DB_UNAVAILABLE.
 */
async function counted<T>(ctx: HostContext, episodeId: string, doing: string, fn: () => Promise<T>): Promise<T> {
  // Every episode activity heartbeats while it runs, so a killed worker is noticed within
  // heartbeatTimeout instead of startToCloseTimeout, whatever the activity is waiting on.
  const stopHeartbeat = heartbeatEvery(1_000);
  try {
    const { attempt, activityType } = Context.current().info;
    if (attempt > 1) await recordInfraFailure(ctx.db, episodeId, `retried:${activityType}`);
    return await fn();
  } catch (raw) {
    throw toTemporalFailure(toDbError(raw, doing));
  } finally {
    stopHeartbeat();
  }
}

export function heartbeatEvery(ms: number): () => void {
  const context = Context.current();
  const timer = setInterval(() => context.heartbeat(), ms);
  return () => clearInterval(timer);
}

export function createEpisodeActivities(ctx: HostContext): EpisodeActivities {
  return {
    async startEpisode(input) {
      // Create-if-missing before `counted` records a retry on the row: a first attempt that died
      // before creating it (timed out under load) must not turn the retry into
      // SWERL_EPISODE_NOT_FOUND. createEpisode is keyed by the episode id and its slot.
      await guardedCreate(ctx, input);
      return counted(ctx, input.episodeId, `starting episode ${input.episodeId}`, async () => {
        const task = await getTask(ctx.db, input.taskId);
        await createEpisode(ctx.db, episodeRow(input));
        await appendTurn(ctx.db, { episodeId: input.episodeId, idx: SYSTEM_IDX, role: 'system', text: systemPrompt({ maxTurns: input.limits.maxTurns, style: input.limits.prompt }) });
        await appendTurn(ctx.db, { episodeId: input.episodeId, idx: INSTANCE_IDX, role: 'user', text: instancePrompt(task.problemStatement, input.limits.prompt) });
        await markEpisodeRunning(ctx.db, input.episodeId);
        const turns = await listTurns(ctx.db, input.episodeId);
        return { nextTurn: nextAgentTurn(turns), formatErrors: turns.filter((t) => t.role === 'assistant' && t.formatError).length };
      });
    },

    async acquireSandbox({ episodeId }) {
      return counted(ctx, episodeId, `acquiring a sandbox for ${episodeId}`, async () => {
        const sb = await buildSandbox(ctx, episodeId);
        return { hostQueue: ctx.hostQueue, containerId: sb.containerId };
      });
    },

    async policyTurn({ episodeId, turn }) {
      return counted(ctx, episodeId, `policy turn ${turn} of ${episodeId}`, async () => {
        const persisted = await getTurn(ctx.db, episodeId, assistantIdx(turn));
        if (persisted) return { kind: 'action' as const, formatError: persisted.formatError, tool: persisted.tool ?? undefined };
        const episode = await getEpisode(ctx.db, episodeId);
        // The stored row stays in Postgres: only the one-line summary goes into history.
        const { stored: _stored, ...step } = await sampleTurn(ctx, episode, await listTurns(ctx.db, episodeId), turn);
        return step;
      });
    },

    async recordInfraFailure({ episodeId, code }) {
      await recordInfraFailure(ctx.db, episodeId, code);
    },

    async abandonReward({ episodeId, code }) {
      return counted(ctx, episodeId, `ending ${episodeId} unscored (${code})`, async () => {
        log.warn('the reward of an episode kept failing for infra reasons past timeouts.rewardInfraSec: ending it unscored', { episodeId, code });
        return unscoredSummary(await failEpisode(ctx.db, episodeId, code, 'infra_failure'));
      });
    },

    async loseEpisode({ episodeId, rebuilds }) {
      return counted(ctx, episodeId, `giving up on the sandbox of ${episodeId}`, async () => {
        log.warn('episode lost its sandbox past sandbox.maxRebuilds: ending it unscored (sandbox_lost)', { episodeId, rebuilds });
        const row = await failEpisode(ctx.db, episodeId, ErrorCodes.SANDBOX_LOST, 'sandbox_lost');
        return { infraFailures: row.infraFailures };
      });
    },

    async scoreEpisode({ episodeId, turns, exitReason, bounded }) {
      return counted(ctx, episodeId, `scoring ${episodeId}`, async () => {
        const episode = await getEpisode(ctx.db, episodeId);
        const { limits } = specOf(episode);
        if (episode.status === 'completed') {
          return { reward: episode.reward ?? 0, lengthPenalty: episode.lengthPenalty ?? 0, rewardFinal: episode.rewardFinal ?? 0, reason: 'already_scored', infraFailures: episode.infraFailures };
        }
        // An attempt that ended the episode unscored, whose answer was lost (its worker died).
        if (bounded && episode.status === 'failed') return unscoredSummary(episode);
        const result = await gradePatch(ctx, episode, episode.patch ?? '', `${episodeId}.reward`).catch((err: unknown) =>
          bounded ? countHarnessCrash(ctx, episodeId, err) : giveUpAfterLastAttempt(ctx, episodeId, err),
        );
        if ('unscored' in result) return result;
        await recordReward(ctx.db, episodeId, result);
        const score = rewardBreakdown(result.reward, turns, { maxTurns: limits.maxTurns, lengthPenalty: { enabled: limits.lengthPenalty, freeTurns: limits.freeTurns } });
        const done = await completeEpisode(ctx.db, { episodeId, exitReason, patch: episode.patch, ...score });
        return { reward: done.reward ?? 0, lengthPenalty: done.lengthPenalty ?? 0, rewardFinal: done.rewardFinal ?? 0, reason: result.reason, infraFailures: done.infraFailures };
      });
    },
  };
}

export function createHostActivities(ctx: HostContext): HostActivities {
  return {
    async execTool({ episodeId, turn, containerId }) {
      return counted(ctx, episodeId, `tool turn ${turn} of ${episodeId}`, async () => {
        const persisted = await getTurn(ctx.db, episodeId, observationIdx(turn));
        if (persisted) {
          return { submitted: persisted.tool === 'submit', exitCode: persisted.exitCode, truncated: persisted.outputTruncated };
        }
        const { sandbox } = specOf(await getEpisode(ctx.db, episodeId));
        const action = await getTurn(ctx.db, episodeId, assistantIdx(turn));
        // A retry cannot know whether the first attempt's command ran: rebuild from the persisted
        // commands so this one is applied exactly once.
        let sb;
        if (Context.current().info.attempt > 1) {
          await sandboxOf(ctx, containerId).then((old) => releaseContainer(ctx, old), () => undefined);
          sb = await buildSandbox(ctx, episodeId);
        } else {
          sb = await sandboxOf(ctx, containerId);
        }
        const { stored, submitted } = await observe(ctx, episodeId, turn, action, sb, sandbox);
        const rebuilt = sb.containerId !== containerId ? { rebuiltContainerId: sb.containerId } : {};
        return { submitted, exitCode: stored.exitCode, truncated: stored.outputTruncated, ...rebuilt };
      });
    },

    async runTurns({ episodeId, fromTurn, containerId, maxTurns }) {
      return counted(ctx, episodeId, `turns ${fromTurn}.. of ${episodeId}`, async () => {
        const context = Context.current();
        const episode = await getEpisode(ctx.db, episodeId);
        const { limits, sandbox } = specOf(episode);
        // The transcript is read once per segment and grown in memory: per turn, one policy call,
        // one command and two appended rows (the unit of durability).
        const turns = await listTurns(ctx.db, episodeId);
        const byIdx = new Map(turns.map((t) => [t.idx, t]));
        const end = Math.min(limits.maxTurns, fromTurn + maxTurns);
        let sb = await sandboxOf(ctx, containerId);
        let formatErrors = 0;
        let turn = fromTurn;
        let exit: SegmentResult['exit'];
        // A retried segment may find its first pending command already run in this sandbox (the
        // previous attempt died between the command and its observation): rebuild once, by replay.
        let checkedRerun = context.info.attempt === 1;
        // A turn's rows commit in the background, in order: the assistant row while its command
        // runs, the observation while the next policy call runs (prompts are built from memory).
        // Before a command starts, every earlier row has landed, so at most the turn in flight is
        // unrecorded when the worker dies: its command's seq mark makes the retry rebuild by replay,
        // and an assistant row that never landed was never persisted, so sampling it again re-samples
        // nothing persisted.
        const rows = new TurnRows(ctx);
        try {
          for (; turn < end; turn++) {
            context.heartbeat({ turn });
            let action = byIdx.get(assistantIdx(turn));
            if (!action) {
              const step = await measureTurnPhase('policy', { episodeId, turn }, () => sampleAction(episode, turns, turn));
              if (step.kind === 'context_overflow') {
                exit = 'context_overflow';
                break;
              }
              await rows.landed();
              action = rows.append(step.row);
              turns.push(action);
              byIdx.set(action.idx, action);
            } else {
              await rows.landed();
            }
            if (action.formatError) formatErrors += 1;
            if (!byIdx.has(observationIdx(turn))) {
              if (!checkedRerun) {
                checkedRerun = true;
                if ((await sb.lastRunSeq()) >= turn) {
                  await releaseContainer(ctx, sb).catch(() => undefined);
                  sb = await buildSandbox(ctx, episodeId);
                }
              }
              const current = action;
              const { row } = await measureTurnPhase('tool', { episodeId, turn }, () => runCommand(ctx, episodeId, turn, current, sb, sandbox, turn));
              const observation = rows.append(row);
              turns.push(observation);
              byIdx.set(observation.idx, observation);
            }
            if (action.tool === 'submit') {
              turn += 1;
              exit = 'submitted';
              break;
            }
          }
          // The segment's result says these turns are done: their rows must have landed.
          await rows.landed();
        } finally {
          await rows.settled();
        }
        const rebuilt = sb.containerId !== containerId ? { rebuiltContainerId: sb.containerId } : {};
        return { nextTurn: turn, formatErrors, ...(exit ? { exit } : {}), ...rebuilt };
      });
    },

    async captureDiff({ episodeId, containerId }) {
      return counted(ctx, episodeId, `capturing the diff of ${episodeId}`, async () => {
        const sb = await sandboxOf(ctx, containerId);
        // An oversized diff is the agent's doing: scored as an empty patch, never retried.
        const diff = await sb.gitDiff().catch((err: unknown) => {
          if (!(err instanceof SwerlError) || err.code !== ErrorCodes.SANDBOX_DIFF_TOO_LARGE) throw err;
          log.warn('the episode diff is over the cap: scoring an empty patch', { episodeId, error: err.message });
          return '';
        });
        await setEpisodePatch(ctx.db, episodeId, withoutTestFiles(diff));
      });
    },

    async releaseSandbox({ episodeId, containerId }) {
      // A container this process never leased: its holder's slot is not freed here. Either this
      // host restarted (the old process's leases died with it) or another live process polls this
      // host queue (refused at start since hostQueueGuard.ts; say so loudly if it happens anyway).
      const foreign = await foreignLeaseOf(ctx, containerId);
      if (foreign) log.warn('releasing a sandbox this process holds no lease on: its holder keeps the lease until its reaper or TTL ends it', { episodeId, containerId, hostQueue: ctx.hostQueue, ...foreign });
      const sb = await sandboxOf(ctx, containerId).catch(() => undefined);
      if (sb) await releaseContainer(ctx, sb);
    },
  };
}

/**
 * Samples agent turn `turn` from the policy and persists it (with its rendered command), given the
 * episode's turns so far. The caller has checked that the turn is not persisted yet.
 */
async function sampleTurn(ctx: HostContext, episode: Episode, turns: readonly Turn[], turn: number): Promise<PolicyStep & { stored?: Turn }> {
  const sampled = await sampleAction(episode, turns, turn);
  if (sampled.kind === 'context_overflow') return sampled;
  const { turn: stored } = await appendTurn(ctx.db, sampled.row);
  return { kind: 'action', formatError: stored.formatError, tool: stored.tool ?? undefined, stored };
}

/** Samples agent turn `turn` from the policy: the assistant row to append (with its rendered command), or context overflow. */
async function sampleAction(episode: Episode, turns: readonly Turn[], turn: number): Promise<{ kind: 'action'; row: NewTurn } | { kind: 'context_overflow'; formatError: false }> {
  const { policy, limits, sandbox, timeouts } = specOf(episode);
  const episodeId = episode.id;
  const idx = assistantIdx(turn);
  const contextTokens = limits.contextTokens;
  const messages = messagesBefore(turns as never, turn);
  const last = turns.filter((t) => t.role === 'assistant').at(-1);
  const lastObservation = turns.find((t) => t.idx === idx - 1);
  const estimatedPrompt = last ? (last.promptTokens ?? 0) + (last.completionTokens ?? 0) + estimateTokens(lastObservation?.text ?? '') : 0;
  if (estimatedPrompt >= contextTokens) return { kind: 'context_overflow', formatError: false };

  const outcome = await complete({
    url: policy.url,
    // The configured alias, or the version itself with policy.pinVersion; either way the answer
    // must name the alias asked for or this episode's version (protocol.ts: SWERL_POLICY_VERSION_MISMATCH).
    model: policy.model,
    expectedVersion: policy.policyVersion,
    messages,
    decoding: policy.decoding,
    seed: policy.seed === undefined ? undefined : policy.seed + turn,
    timeoutMs: timeouts.policyTurnSec * 1000,
    signal: Context.current().cancellationSignal,
    idempotencyKey: `${episodeId}:${turn}`,
    headers: { 'x-swerl-task': episode.taskId },
  });
  if (outcome.kind === 'context_overflow') return { kind: 'context_overflow', formatError: false };
  const { completion } = outcome;
  if (completion.promptTokens > contextTokens) return { kind: 'context_overflow', formatError: false };

  const parsed = parseAction(completion.text);
  const command = parsed.ok ? renderActionCommand(parsed.action, innerRenderOptions(sandbox)) : renderFormatErrorCommand(parsed.error);
  return {
    kind: 'action',
    row: {
      episodeId,
      idx,
      role: 'assistant',
      text: completion.text,
      tokenIds: completion.tokenIds,
      logprobs: completion.logprobs,
      promptTokens: completion.promptTokens,
      completionTokens: completion.completionTokens,
      formatError: !parsed.ok,
      tool: parsed.ok ? parsed.action.kind : null,
      command,
      durationMs: Math.round(completion.latencyMs),
    },
  };
}

/** Runs agent turn `turn`'s persisted command in `sb` once; returns its observation row, not yet appended. */
async function runCommand(ctx: HostContext, episodeId: string, turn: number, action: Turn | undefined, sb: Sandbox, settings: SandboxSettings, seq?: number): Promise<{ row: NewTurn; submitted: boolean }> {
  if (!action?.command) {
    throw new SwerlError(ErrorCodes.EPISODE_STATE_INVALID, `episode ${episodeId} has no command for agent turn ${turn}`, { episodeId, turn });
  }
  const result = await sb.exec(action.command, { timeoutSec: settings.commandTimeoutSec + 5, seq });
  const submitted = action.tool === 'submit';
  if (submitted) await setEpisodePatch(ctx.db, episodeId, extractSubmission(result.output) ?? '');
  const row: NewTurn = {
    episodeId,
    idx: observationIdx(turn),
    role: 'tool',
    text: result.output,
    tool: action.tool,
    exitCode: result.exitCode,
    outputTruncated: result.truncated,
    durationMs: result.durationMs,
  };
  return { row, submitted };
}

/** Runs agent turn `turn`'s persisted command in `sb` once and persists the observation. */
async function observe(ctx: HostContext, episodeId: string, turn: number, action: Turn | undefined, sb: Sandbox, settings: SandboxSettings, seq?: number): Promise<{ stored: Turn; submitted: boolean }> {
  const { row, submitted } = await runCommand(ctx, episodeId, turn, action, sb, settings, seq);
  const { turn: stored } = await appendTurn(ctx.db, row);
  return { stored, submitted };
}

/**
 * A segment's turn rows, appended in the background one at a time and in order, so that a row's
 * commit overlaps the work that follows it (the assistant row: its command; the observation row:
 * the next policy call). `append` returns the row as it will be stored. `landed` waits for every
 * append so far and throws the first failure: a failed append is held (never an unhandled
 * rejection) and the appends after it are skipped. A row another attempt stored first with other
 * content is a failure too (SWERL_SANDBOX_EXEC_FAILED, retried): this attempt may have run a command
 * the record does not hold, so the retry finds the command's seq mark and rebuilds by replay.
 */
class TurnRows {
  private last: Promise<void> = Promise.resolve();
  private failure: { err: unknown } | undefined;

  constructor(private readonly ctx: HostContext) {}

  append(row: NewTurn): Turn {
    const expected = asStored(row);
    this.last = this.last.then(async () => {
      if (this.failure) return;
      try {
        const { turn, inserted } = await appendTurn(this.ctx.db, row);
        if (!inserted && (turn.text !== expected.text || turn.command !== expected.command)) {
          throw new SandboxError(
            ErrorCodes.SANDBOX_EXEC_FAILED,
            `turn row ${row.idx} of episode ${row.episodeId} was stored by another attempt with other content; retrying from the record`,
            { episodeId: row.episodeId, idx: row.idx },
          );
        }
      } catch (err) {
        this.failure = { err };
      }
    });
    return expected;
  }

  async landed(): Promise<void> {
    await this.last;
    if (this.failure) throw this.failure.err;
  }

  settled(): Promise<void> {
    return this.last;
  }
}

/** startEpisode's row, created once whatever attempt gets here first (retry-safe: keyed insert). */
async function guardedCreate(ctx: HostContext, input: EpisodeInput & { workflowId: string }): Promise<void> {
  if (Context.current().info.attempt === 1) return; // the attempt's body creates it
  try {
    await createEpisode(ctx.db, episodeRow(input));
  } catch (raw) {
    throw toTemporalFailure(toDbError(raw, `creating episode ${input.episodeId}`));
  }
}

export function episodeRow(input: EpisodeInput & { workflowId: string }) {
  return {
    id: input.episodeId,
    runId: input.runId,
    stage: input.stage,
    iteration: input.iteration,
    taskId: input.taskId,
    sampleIdx: input.sampleIdx,
    workflowId: input.workflowId,
    policyVersion: input.policy.policyVersion,
    decoding: { ...input.policy.decoding, seed: input.policy.seed ?? null },
    maxTurns: input.limits.maxTurns,
    contextTokens: input.limits.contextTokens,
    spec: { policy: input.policy, limits: input.limits, sandbox: input.sandbox, timeouts: input.timeouts } satisfies EpisodeSpec,
  };
}

/**
 * A harness crash on the last of REWARD_MAX_ATTEMPTS attempts ends the episode failed and unscored
 * with SWERL_REWARD_UNAVAILABLE (not retried), instead of retrying a broken harness forever.
 */
async function giveUpAfterLastAttempt(ctx: HostContext, episodeId: string, err: unknown): Promise<never> {
  const { attempt } = Context.current().info;
  if (errorCodeOf(err) !== ErrorCodes.REWARD_HARNESS_CRASHED || attempt < REWARD_MAX_ATTEMPTS) throw err;
  await failEpisode(ctx.db, episodeId, ErrorCodes.REWARD_UNAVAILABLE);
  throw new SandboxError(
    ErrorCodes.REWARD_UNAVAILABLE,
    `the reward of episode ${episodeId} crashed on ${attempt} attempts (bound ${REWARD_MAX_ATTEMPTS}): ${err instanceof Error ? err.message : String(err)}`,
    { episodeId, attempts: attempt },
    { cause: err },
  );
}

/** An episode that ended unscored (failed), as the workflow sees it. */
function unscoredSummary(episode: Episode): EpisodeScoreSummary & { unscored: string } {
  const code = episode.lastErrorCode ?? ErrorCodes.REWARD_UNAVAILABLE;
  return { reward: 0, lengthPenalty: 0, rewardFinal: 0, reason: code, infraFailures: episode.infraFailures, unscored: code };
}

/**
 * A harness crash (Docker answered, the reward container ran: reward/infra.ts) is counted on the
 * episode row; the REWARD_MAX_ATTEMPTS-th ends the episode failed and unscored with
 * SWERL_REWARD_UNAVAILABLE (returned, not thrown: the workflow ends it as infra_failure). Every
 * other failure is thrown as it is: the workflow retries infra within timeouts.rewardInfraSec.
 */
async function countHarnessCrash(ctx: HostContext, episodeId: string, err: unknown): Promise<EpisodeScoreSummary & { unscored: string }> {
  if (errorCodeOf(err) !== ErrorCodes.REWARD_HARNESS_CRASHED) throw err;
  const row = await recordHarnessCrash(ctx.db, episodeId);
  if (row.rewardHarnessCrashes < REWARD_MAX_ATTEMPTS) throw err;
  log.warn('the reward harness crashed on its last allowed attempt: ending the episode unscored', { episodeId, crashes: row.rewardHarnessCrashes, error: err instanceof Error ? err.message : String(err) });
  return unscoredSummary(await failEpisode(ctx.db, episodeId, ErrorCodes.REWARD_UNAVAILABLE, 'infra_failure'));
}

/** Drops the files the reward restores anyway (tests), as `submit` does inside the sandbox. */
export function withoutTestFiles(diff: string): string {
  const parts = diff.split(/^(?=diff --git )/m);
  return parts.filter((p) => {
    const m = /^diff --git a\/(\S+) b\//.exec(p);
    return !m || !isTestPath(m[1]!);
  }).join('');
}
