/**
 * History stays small: an 80-turn episode whose context grows to ~131k tokens keeps its Temporal
 * history under 200 KB, because turns live in Postgres and the workflow carries ids only.
 */
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { contextFillerScript, createScriptBook } from '../../activities/policy/scripts';
import { episodes, turns } from '../../db/schema';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';

const MAX_TURNS = 80;
const CONTEXT_TOKENS = 131_072;
// 80 observations of 7 KB ≈ 560 KB of text: past 131k tokens at the scripted server’s 4 characters per token.
const OBSERVATION_BYTES = 7_000;

let h: RolloutHarness;
beforeAll(async () => {
  h = await rolloutHarness(
    'history',
    (tasks) => createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: contextFillerScript(OBSERVATION_BYTES) }))),
    { contextLimitTokens: 10 * CONTEXT_TOKENS },
  );
  await h.startWorker();
  await h.startRollout();
});
afterAll(async () => {
  await h?.close();
});

it('an 80-turn ~131k-token episode has a Temporal history of at most 200 KB', async () => {
  const input = h.episodeInput(h.tasks[0]!.instanceId, { maxTurns: MAX_TURNS, contextTokens: 10 * CONTEXT_TOKENS });
  const handle = await h.startEpisode(input);
  const result = await handle.result();
  expect(result.turns).toBe(MAX_TURNS);
  expect(result.exitReason).toBe('max_turns');

  const rows = await h.db.db.select().from(turns).where(eq(turns.episodeId, input.episodeId));
  const contextChars = rows.reduce((n, r) => n + r.text.length, 0);
  const [episode] = await h.db.db.select().from(episodes).where(eq(episodes.id, input.episodeId));
  const history = await handle.fetchHistory();
  const bytes = temporal.api.history.v1.History.encode(history).finish().length;
  console.log(
    `[history] ${MAX_TURNS} turns, context ${contextChars} chars (largest prompt ${episode?.promptTokens} tokens), ` +
      `${history.events?.length} events, history ${bytes} bytes (${(bytes / 1024).toFixed(1)} KiB)`,
  );
  expect(episode!.promptTokens).toBeGreaterThan(CONTEXT_TOKENS);
  expect(bytes).toBeLessThanOrEqual(200 * 1024);
});
