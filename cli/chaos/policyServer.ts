/**
 * The chaos soak's policy server as its own process (so it can be SIGKILLed and restarted on the
 * same URL): the toy demo's scripted policy — gold patch on even episode seeds, garbage on odd
 * ones, two scripted servers behind the seed-parity router, which acknowledges the trainer's
 * /v1/load hot-reloads.
 *
 *   npx tsx cli/chaos/policyServer.ts --tasks <jsonl> --port <port>
 *
 * Prints {"event":"policy_server_ready","url":...} once it serves; SIGTERM/SIGINT stop it.
 */
import { readFileSync } from 'node:fs';
import { startScriptedPolicyServer } from '../../activities/policy/scriptedServer';
import { createScriptBook, garbageScript, goldScript } from '../../activities/policy/scripts';
import { startParityProxy } from '../../activities/policy/seedRouter';
import { parseTaskLine } from '../../core/tasks';

async function main(): Promise<void> {
  const arg = (name: string): string => {
    const i = process.argv.indexOf(name);
    const v = i >= 0 ? process.argv[i + 1] : undefined;
    if (!v) throw new Error(`usage: policyServer.ts --tasks <jsonl> --port <port> (missing ${name})`);
    return v;
  };
  const tasks = readFileSync(arg('--tasks'), 'utf8')
    .split('\n')
    .map((line, i) => ({ line, no: i + 1 }))
    .filter(({ line }) => line.trim() !== '')
    .map(({ line, no }) => parseTaskLine(line, no));
  const book = (solve: boolean) =>
    createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: solve ? goldScript(t) : garbageScript(1_000) })));
  const even = await startScriptedPolicyServer({ port: 0, scripts: book(true) });
  const odd = await startScriptedPolicyServer({ port: 0, scripts: book(false) });
  const router = await startParityProxy(even.url, odd.url, { acceptLoads: true, port: Number(arg('--port')) });
  console.log(JSON.stringify({ event: 'policy_server_ready', url: router.url, tasks: tasks.length }));
  const stop = () => {
    void Promise.all([router.close(), even.close(), odd.close()]).finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
