/**
 * The episode's activities. `shared` ones run on any rollout worker (queue swerl-rollout); `host`
 * ones run on the worker that holds the sandbox (its own queue). All of them are retry-safe:
 * every write is keyed by (episode, turn idx), a persisted turn is returned instead of redone, and
 * retryable failures are counted on the episode before they are re-thrown to Temporal.
 */
import { Context } from '@temporalio/activity';
import { innerRenderOptions, parseAction, renderActionCommand, renderFormatErrorCommand } from '../../core/actions';
import { ErrorCodes, SwerlError, toTemporalFailure } from '../../core/errors';
import { extractSubmission } from '../../core/observation';
import { instancePrompt, systemPrompt } from '../../core/prompt';
import { rewardBreakdown } from '../../core/rl/reward';
import { assistantIdx, estimateTokens, INSTANCE_IDX, messagesBefore, nextAgentTurn, observationIdx, SYSTEM_IDX } from '../../core/transcript';
import { isTestPath } from '../../core/tasks';
import { toDbError } from '../../db/client';
import { completeEpisode, createEpisode, getEpisode, markEpisodeRunning, recordInfraFailure } from '../../db/episodes';
import { getTask } from '../../db/tasks';
import { appendTurn, getTurn, listTurns } from '../../db/turns';
import { setEpisodePatch } from './patch';
import { complete } from '../policy/client';
import { computeReward, recordReward } from '../reward';
import { Labels } from '../sandbox';
import { buildSandbox, releaseContainer, sandboxOf, taskImage, type HostContext } from './sandboxes';
import { specOf } from './sandboxes';
import type { EpisodeActivities, EpisodeSpec, HostActivities } from './types';

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

function heartbeatEvery(ms: number): () => void {
  const context = Context.current();
  const timer = setInterval(() => context.heartbeat(), ms);
  return () => clearInterval(timer);
}

export function createEpisodeActivities(ctx: HostContext): EpisodeActivities {
  return {
    async startEpisode(input) {
      return counted(ctx, input.episodeId, `starting episode ${input.episodeId}`, async () => {
        const task = await getTask(ctx.db, input.taskId);
        await createEpisode(ctx.db, {
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
        });
        await appendTurn(ctx.db, { episodeId: input.episodeId, idx: SYSTEM_IDX, role: 'system', text: systemPrompt({ maxTurns: input.limits.maxTurns, style: input.limits.prompt }) });
        await appendTurn(ctx.db, { episodeId: input.episodeId, idx: INSTANCE_IDX, role: 'user', text: instancePrompt(task.problemStatement, input.limits.prompt) });
        await markEpisodeRunning(ctx.db, input.episodeId);
        const turns = await listTurns(ctx.db, input.episodeId);
        return { nextTurn: nextAgentTurn(turns), formatErrors: turns.filter((t) => t.role === 'assistant' && t.formatError).length };
      });
    },

    async acquireSandbox({ episodeId, replayUpTo }) {
      return counted(ctx, episodeId, `acquiring a sandbox for ${episodeId}`, async () => {
        const sb = await buildSandbox(ctx, episodeId, replayUpTo);
        return { hostQueue: ctx.hostQueue, containerId: sb.containerId };
      });
    },

    async policyTurn({ episodeId, turn }) {
      return counted(ctx, episodeId, `policy turn ${turn} of ${episodeId}`, async () => {
        const idx = assistantIdx(turn);
        const persisted = await getTurn(ctx.db, episodeId, idx);
        if (persisted) return { kind: 'action' as const, formatError: persisted.formatError, tool: persisted.tool ?? undefined };
        const episode = await getEpisode(ctx.db, episodeId);
        const { policy, limits, sandbox, timeouts } = specOf(episode);
        const contextTokens = limits.contextTokens;

        const turns = await listTurns(ctx.db, episodeId);
        const messages = messagesBefore(turns as never, turn);
        const last = turns.filter((t) => t.role === 'assistant').at(-1);
        const lastObservation = turns.find((t) => t.idx === idx - 1);
        const estimatedPrompt = last ? (last.promptTokens ?? 0) + (last.completionTokens ?? 0) + estimateTokens(lastObservation?.text ?? '') : 0;
        if (estimatedPrompt >= contextTokens) return { kind: 'context_overflow' as const, formatError: false };

        const outcome = await complete({
          url: policy.url,
          model: policy.model,
          messages,
          decoding: policy.decoding,
          seed: policy.seed === undefined ? undefined : policy.seed + turn,
          timeoutMs: timeouts.policyTurnSec * 1000,
          signal: Context.current().cancellationSignal,
          idempotencyKey: `${episodeId}:${turn}`,
          headers: { 'x-swerl-task': episode.taskId },
        });
        if (outcome.kind === 'context_overflow') return { kind: 'context_overflow' as const, formatError: false };
        const { completion } = outcome;
        if (completion.promptTokens > contextTokens) return { kind: 'context_overflow' as const, formatError: false };

        const parsed = parseAction(completion.text);
        const command = parsed.ok ? renderActionCommand(parsed.action, innerRenderOptions(sandbox)) : renderFormatErrorCommand(parsed.error);
        const { turn: stored } = await appendTurn(ctx.db, {
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
        });
        return { kind: 'action' as const, formatError: stored.formatError, tool: stored.tool ?? undefined };
      });
    },

    async recordInfraFailure({ episodeId, code }) {
      await recordInfraFailure(ctx.db, episodeId, code);
    },

    async scoreEpisode({ episodeId, turns, exitReason }) {
      return counted(ctx, episodeId, `scoring ${episodeId}`, async () => {
        const episode = await getEpisode(ctx.db, episodeId);
        const { limits, sandbox, timeouts } = specOf(episode);
        const rewardTimeoutSec = timeouts.rewardSec;
        if (episode.status === 'completed') {
          return { reward: episode.reward ?? 0, lengthPenalty: episode.lengthPenalty ?? 0, rewardFinal: episode.rewardFinal ?? 0, reason: 'already_scored', infraFailures: episode.infraFailures };
        }
        const task = await getTask(ctx.db, episode.taskId);
        const image = await taskImage(ctx, task.id);
        const rewardLabel = `${episodeId}.reward`;
        // A previous attempt's harness container (its worker died mid-run) is of no further use.
        if (Context.current().info.attempt > 1) await removeLabelled(ctx, rewardLabel);
        const result = await computeReward(
          ctx.docker,
          { instanceId: task.id, baseCommit: task.baseCommit, testPatch: task.testPatch, failToPass: task.failToPass, passToPass: task.passToPass },
          episode.patch ?? '',
          { image, limits: sandbox, testTimeoutSec: rewardTimeoutSec, labels: { run: episode.runId, episode: rewardLabel }, leaseTtlSec: rewardTimeoutSec + 120 },
        );
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
        if (!action?.command) {
          throw new SwerlError(ErrorCodes.EPISODE_STATE_INVALID, `episode ${episodeId} has no command for agent turn ${turn}`, { episodeId, turn });
        }
        // A retry cannot know whether the first attempt's command ran: rebuild from the persisted
        // commands so this one is applied exactly once.
        let sb;
        if (Context.current().info.attempt > 1) {
          await sandboxOf(ctx, containerId).then((old) => releaseContainer(ctx, old), () => undefined);
          sb = await buildSandbox(ctx, episodeId, turn);
        } else {
          sb = await sandboxOf(ctx, containerId);
        }
        const result = await sb.exec(action.command, { timeoutSec: sandbox.commandTimeoutSec + 5 });
        const submitted = action.tool === 'submit';
        if (submitted) await setEpisodePatch(ctx.db, episodeId, extractSubmission(result.output) ?? '');
        await appendTurn(ctx.db, {
          episodeId,
          idx: observationIdx(turn),
          role: 'tool',
          text: result.output,
          tool: action.tool,
          exitCode: result.exitCode,
          outputTruncated: result.truncated,
          durationMs: result.durationMs,
        });
        const rebuilt = sb.containerId !== containerId ? { rebuiltContainerId: sb.containerId } : {};
        return { submitted, exitCode: result.exitCode, truncated: result.truncated, ...rebuilt };
      });
    },

    async captureDiff({ episodeId, containerId }) {
      return counted(ctx, episodeId, `capturing the diff of ${episodeId}`, async () => {
        const sb = await sandboxOf(ctx, containerId);
        const diff = await sb.gitDiff();
        await setEpisodePatch(ctx.db, episodeId, withoutTestFiles(diff));
      });
    },

    async releaseSandbox({ containerId }) {
      const sb = await sandboxOf(ctx, containerId).catch(() => undefined);
      if (sb) await releaseContainer(ctx, sb);
    },
  };
}

async function removeLabelled(ctx: HostContext, episodeLabel: string): Promise<void> {
  const stale = await ctx.docker.listContainers({ all: true, filters: { label: [`${Labels.episode}=${episodeLabel}`] } });
  await Promise.all(stale.map((c) => ctx.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}

/** Drops the files the reward restores anyway (tests), as `submit` does inside the sandbox. */
export function withoutTestFiles(diff: string): string {
  const parts = diff.split(/^(?=diff --git )/m);
  return parts.filter((p) => {
    const m = /^diff --git a\/(\S+) b\//.exec(p);
    return !m || !isTestPath(m[1]!);
  }).join('');
}
