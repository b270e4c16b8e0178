/**
 * An episode whose fault tests can see a re-sampled turn or a command run twice: the script's
 * first two commands append a line carrying the policy call's nonce to an untracked file (which
 * the submitted diff carries), the second one slow so a fault can land while it runs; then the
 * gold patch. The scripted policy server samples per call (each reply has its own nonce) and
 * counts calls per (episode, turn).
 */
import { expect } from 'vitest';
import { NONCE_PATTERN, type ScriptedPolicyStats } from '../../activities/policy/scriptedServer';
import { goldActions, renderReply, scriptFromActions, type Script } from '../../activities/policy/scripts';

export const EFFECTS = '.swerl-effects';
export const SLOW_TURN = 1;

export function slowGold(patch: string, slowSec: number): Script {
  const gold = scriptFromActions('gold', goldActions(patch));
  return {
    name: 'slow-then-gold',
    length: (gold.length ?? 0) + 2,
    reply: (turn) =>
      turn === 0
        ? renderReply('First I note where I am ({{nonce}}).', `echo 0:{{nonce}} >> /repo/${EFFECTS}`)
        : turn === SLOW_TURN
          ? renderReply('Let me wait for the build first ({{nonce}}).', `echo ${SLOW_TURN}:{{nonce}} >> /repo/${EFFECTS} && sleep ${slowSec} && echo built`)
          : `({{nonce}}) ${gold.reply(turn - 2)}`,
  };
}

/** The per-call nonce a persisted assistant text carries. */
export function nonceOf(text: string): string {
  const m = text.match(NONCE_PATTERN);
  if (!m) throw new Error(`no nonce in ${JSON.stringify(text.slice(0, 200))}`);
  return m[0];
}

/**
 * From the policy server's counters: each persisted turn was sampled exactly once. From the
 * sandbox's side effects: each shell command ran exactly once in the sandbox whose diff was
 * submitted (a rebuild replays the earlier ones once, the pending one runs once).
 */
export function expectEachTurnOnce(calls: ScriptedPolicyStats['calls'], run: { episodeId: string; assistant: string[]; patch: string }): void {
  const mine = Object.keys(calls).filter((k) => k.startsWith(`${run.episodeId}:`));
  expect(mine.sort()).toEqual(run.assistant.map((_, t) => `${run.episodeId}:${t}`).sort());
  run.assistant.forEach((text, t) => {
    const issued = calls[`${run.episodeId}:${t}`]!;
    expect(issued, `turn ${t} sampled more than once`).toEqual([nonceOf(text)]);
  });
  const effects = run.patch.split('\n').filter((l) => /^\+\d+:n[0-9a-f]{10}$/.test(l)).map((l) => l.slice(1));
  expect(effects, 'each side-effect command must have run exactly once in the submitted sandbox').toEqual(
    [0, SLOW_TURN].map((t) => `${t}:${nonceOf(run.assistant[t]!)}`),
  );
}
