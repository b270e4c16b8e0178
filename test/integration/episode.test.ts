import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { createScriptBook, garbageScript, goldScript, sequence } from '../../activities/policy/scripts';
import { episodes, turns } from '../../db/schema';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';

let h: RolloutHarness;
const GARBAGE_TASK_INDEX = 1;

beforeAll(async () => {
  h = await rolloutHarness('episode', (tasks) =>
    createScriptBook(
      tasks.map((t, i) => ({
        instanceId: t.instanceId,
        problemStatement: t.problemStatement,
        script: i === GARBAGE_TASK_INDEX ? garbageScript(1_000) : sequence(garbageScript(1), goldScript(t)),
      })),
    ),
  );
  await h.startWorker();
  await h.startRollout();
});
afterAll(async () => {
  await h?.close();
});

describe('episode workflow', () => {
  it('a scripted gold episode (after one format error) submits and gets reward 1', async () => {
    const task = h.tasks[0]!;
    const input = h.episodeInput(task.instanceId);
    const handle = await h.startEpisode(input);
    const result = await handle.result();
    expect(result).toMatchObject({ reward: 1, exitReason: 'submitted', formatErrors: 1, infraFailures: 0, rewardReason: 'resolved' });
    // SWERL_RECORD_HISTORIES=1 records the episode workflow for test/integration/replay.test.ts
    // (SWERL_HISTORY_NAME names the file: one per workflow shape, old ones kept).
    if (process.env.SWERL_RECORD_HISTORIES) {
      const file = path.join(__dirname, '..', 'fixtures', 'histories', `${process.env.SWERL_HISTORY_NAME ?? 'episode'}.json`);
      writeFileSync(file, historyToJSON(await handle.fetchHistory()));
    }
    const [row] = await h.db.db.select().from(episodes).where(eq(episodes.id, input.episodeId));
    expect(row).toMatchObject({ status: 'completed', reward: 1, turnCount: result.turns, exitReason: 'submitted', policyVersion: 'scripted' });
    expect(row?.decoding).toMatchObject({ temperature: 1, topP: 1, topK: -1, minP: 0 });
    expect(row?.patch).toContain('diff --git');
    const rows = await h.db.db.select().from(turns).where(eq(turns.episodeId, input.episodeId));
    expect(rows).toHaveLength(2 + 2 * result.turns);
    const assistant = rows.filter((r) => r.role === 'assistant');
    expect(assistant.every((r) => (r.tokenIds?.length ?? 0) > 0 && r.logprobs?.length === r.tokenIds?.length)).toBe(true);
    expect(rows.filter((r) => r.role === 'tool').every((r) => /\(Open file: .*\) \(Current directory: .*\) bash-\$\s*$/.test(r.text))).toBe(true);
  });

  it('a garbage episode runs to T_max with every turn a format error and gets reward 0 plus the length penalty', async () => {
    const task = h.tasks[GARBAGE_TASK_INDEX]!;
    const input = h.episodeInput(task.instanceId, { maxTurns: 12 });
    const result = await (await h.startEpisode(input)).result();
    // toy rl-stage1 freeTurns 5, T_max overridden to 12 → R_len = (5 − 12) / (12 − 5) = −1
    expect(result).toMatchObject({ reward: 0, exitReason: 'max_turns', turns: 12, formatErrors: 12, lengthPenalty: -1, rewardFinal: -1 });
    const [row] = await h.db.db.select().from(episodes).where(eq(episodes.id, input.episodeId));
    expect(row).toMatchObject({ status: 'completed', reward: 0, rewardFinal: -1, exitReason: 'max_turns' });
  });
});
