/**
 * `swerl trajectory EPISODE`: an episode as a human reads it — each turn's reasoning and command,
 * the observation, timings and token counts, then the reward with its per-test provenance.
 */
import type { Episode } from '../db/episodes';
import type { RewardResult } from '../db/rewards';
import type { Turn } from '../db/turns';

const OBSERVATION_PREVIEW = 2_000;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max / 2)}\n[... ${text.length - max} characters not shown; --full shows all ...]\n${text.slice(-max / 2)}`;
}

export function formatTrajectory(episode: Episode, turns: readonly Turn[], reward: RewardResult | undefined, opts: { full?: boolean } = {}): string {
  const max = opts.full ? Number.POSITIVE_INFINITY : OBSERVATION_PREVIEW;
  const out: string[] = [];
  out.push(`episode ${episode.id}`);
  out.push(`  task ${episode.taskId} · run ${episode.runId} · stage ${episode.stage} iteration ${episode.iteration} sample ${episode.sampleIdx}`);
  out.push(`  status ${episode.status} · exit ${episode.exitReason ?? '-'} · turns ${episode.turnCount}/${episode.maxTurns} · infra failures ${episode.infraFailures}`);
  out.push(`  policy ${episode.policyVersion} · decoding ${JSON.stringify(episode.decoding)}`);
  out.push(`  tokens: largest prompt ${episode.promptTokens}, completions ${episode.completionTokens} (context ${episode.contextTokens})`);
  for (const t of turns) {
    if (t.role === 'system') continue;
    if (t.role === 'user') {
      out.push('', '── task ──', clip(t.text, max));
      continue;
    }
    const agentTurn = Math.floor((t.idx - 2) / 2);
    if (t.role === 'assistant') {
      const tokens = t.completionTokens === null ? '' : ` · ${t.completionTokens} tokens`;
      const flag = t.formatError ? ' · FORMAT ERROR' : '';
      out.push('', `── turn ${agentTurn + 1} · assistant${tokens} · ${t.durationMs ?? '?'} ms${flag} ──`, clip(t.text, max));
    } else {
      const exit = t.exitCode === null ? '' : ` · exit ${t.exitCode}`;
      out.push(`── observation${exit} · ${t.durationMs ?? '?'} ms${t.outputTruncated ? ' · truncated' : ''} ──`, clip(t.text, max));
    }
  }
  out.push('', '── reward ──');
  if (episode.reward === null) {
    out.push('  not scored yet');
  } else {
    out.push(`  R = ${episode.reward} · R_len = ${episode.lengthPenalty ?? 0} · R_final = ${episode.rewardFinal}`);
  }
  if (reward) {
    out.push(`  patch applied: ${reward.patchApplied} · harness exit ${reward.harnessExitCode ?? '-'} · ${reward.durationMs} ms`);
    for (const test of reward.tests) out.push(`  ${test.outcome.padEnd(8)} ${test.list.padEnd(12)} ${test.name}`);
  }
  if (episode.patch) out.push('', '── patch ──', clip(episode.patch, max));
  return out.join('\n');
}
