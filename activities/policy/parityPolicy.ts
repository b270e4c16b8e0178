/**
 * The scripted policy of `swerl demo --scripted` and the compose smoke run: two scripted servers,
 * gold patch on even episode seeds and garbage on odd ones for every task, behind a parity router
 * that also acknowledges the trainer's policy loads (a script has no weights to reload).
 */
import { startScriptedPolicyServer, type ScriptedPolicyServer } from './scriptedServer';
import { createScriptBook, garbageScript, goldScript } from './scripts';
import { startParityProxy, type SeedRouter } from './seedRouter';

export interface ParityTask {
  instanceId: string;
  problemStatement: string;
  goldPatch: string;
}

export async function startParityScriptedPolicy(tasks: readonly ParityTask[], listen: { host?: string; port?: number } = {}): Promise<{ router: SeedRouter; close(): Promise<void> }> {
  const book = (solve: boolean) =>
    createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: solve ? goldScript(t) : garbageScript(1_000) })));
  const servers: ScriptedPolicyServer[] = [await startScriptedPolicyServer({ port: 0, scripts: book(true) }), await startScriptedPolicyServer({ port: 0, scripts: book(false) })];
  const router = await startParityProxy(servers[0]!.url, servers[1]!.url, { acceptLoads: true, ...listen });
  return {
    router,
    async close() {
      await router.close();
      for (const s of servers) await s.close();
    },
  };
}
