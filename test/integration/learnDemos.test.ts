/**
 * The learning demo's pre-training corpus must be the text real episodes record: the same compact
 * prompts and the exact observations of the sandbox tools. Here scripted policies replay the
 * demonstrations' actions in real episodes (real Temporal, Postgres, Docker) and every recorded
 * turn is compared with the demonstration, and each mode's reward with what the corpus assumes.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asc, eq } from 'drizzle-orm';
import type { Script } from '../../activities/policy/scripts';
import { createScriptBook } from '../../activities/policy/scripts';
import { turns } from '../../db/schema';
import { demonstration, type DemoMode, type DemoStyle } from '../../tasks/learn/demos';
import { learnSuiteInstances } from '../../tasks/learn/suite';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';

const LEARN_SUITE = path.join(__dirname, '..', '..', 'tasks', 'learn', 'tasks.jsonl');
const instances = learnSuiteInstances();
/** One instance per style and mode, in suite order. */
const cases: Array<{ style: DemoStyle; mode: DemoMode; reward: number }> = (['edit', 'sed'] as const).flatMap((style) => [
  { style, mode: 'gold' as const, reward: 1 },
  { style, mode: 'line-below' as const, reward: 0 },
  { style, mode: 'no-edit' as const, reward: 0 },
]);
const MAX_TURNS = 4;
const demoOf = (i: number) => demonstration(instances[i]!, cases[i]!.mode, { maxTurns: MAX_TURNS, style: cases[i]!.style });

let h: RolloutHarness;

beforeAll(async () => {
  h = await rolloutHarness(
    'learndemos',
    () =>
      createScriptBook(
        cases.map((_, i) => {
          const replies = demoOf(i).messages.filter((m) => m.role === 'assistant').map((m) => m.content);
          const script: Script = { name: `demo-${i}`, length: replies.length, reply: (turn) => replies[Math.min(turn, replies.length - 1)]! };
          return { instanceId: `learn__${instances[i]!.name}`, problemStatement: instances[i]!.spec.problem, script };
        }),
      ),
    {},
    { config: 'learn', file: LEARN_SUITE, name: 'learn' },
  );
  await h.startWorker();
  await h.startRollout();
});
afterAll(async () => {
  await h?.close();
});

describe('learn demonstrations', () => {
  it.each(cases.map((c, i) => [c.style, c.mode, i] as const))('a %s-style %s demonstration is exactly what a real episode records, with the reward the corpus assumes', async (_style, _mode, i) => {
    const demo = demoOf(i);
    const input = h.episodeInput(demo.task_id, { maxTurns: MAX_TURNS });
    const result = await (await h.startEpisode(input)).result();
    expect(result).toMatchObject({ reward: cases[i]!.reward, exitReason: 'submitted' });
    const rows = await h.db.db.select().from(turns).where(eq(turns.episodeId, input.episodeId)).orderBy(asc(turns.idx));
    // The demonstration ends at `submit`; the episode also records the submission's observation.
    const recorded = rows.slice(0, demo.messages.length).map((r) => ({ role: r.role, content: r.text }));
    expect(recorded).toEqual(demo.messages);
    expect(rows.at(-1)?.role).toBe('tool');
  });
});
