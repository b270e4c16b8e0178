/**
 * Runs the scripted policy server as a process, for benchmarks and demos that want a policy with
 * known behaviour without a model:
 *
 *   npx tsx activities/policy/serveScripted.ts --tasks tasks/toy/tasks.jsonl --port 8001 --garbage 2
 *
 * `--parity`: the demo's policy instead (gold on even episode seeds, garbage on odd ones, the
 * trainer's loads acknowledged): what the compose smoke run trains against.
 *
 * Prints one JSON line {"event":"policy_server_ready","url":...} (as the trainer's server does),
 * then serves until SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { parseTaskLine, type Task } from '../../core/tasks';
import { startParityScriptedPolicy } from './parityPolicy';
import { startScriptedPolicyServer } from './scriptedServer';
import { contextFillerScript, createScriptBook, garbageScript, goldScript, loopScript, sequence, type Script } from './scripts';

function readTasks(file: string): Task[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line, i) => ({ line, no: i + 1 }))
    .filter(({ line }) => line.trim() !== '')
    .map(({ line, no }) => parseTaskLine(line, no));
}

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a non-negative integer: ${v}`);
  return n;
};

async function main(argv: string[]): Promise<void> {
  const cmd = new Command('serve-scripted')
    .description('OpenAI-compatible policy server that replays scripts per task')
    .requiredOption('--tasks <file>', 'JSONL task file (SWE-bench form)')
    .addOption(new Option('--script <kind>', 'what every task plays').choices(['gold', 'loop', 'filler']).default('gold'))
    .option('--garbage <k>', 'format-error turns before the script', int, 0)
    .option('--filler-bytes <n>', 'bytes printed per turn by --script filler', int, 200_000)
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'listen port (0 = random)', int, 8001)
    .option('--context-limit <tokens>', 'refuse conversations longer than this (chars / 4)', int, 65_536)
    .option('--fail-first <n>', 'answer the first n requests with HTTP 503', int, 0)
    .option('--delay-ms <ms>', 'wait before every answer', int, 0)
    .option('--parity', 'gold on even episode seeds, garbage on odd ones, POST /v1/load acknowledged (the demo policy)')
    .parse(argv);
  const o = cmd.opts<{
    tasks: string; script: 'gold' | 'loop' | 'filler'; garbage: number; fillerBytes: number; host: string; port: number;
    contextLimit: number; failFirst: number; delayMs: number; parity?: boolean;
  }>();
  if (o.parity) {
    const policy = await startParityScriptedPolicy(readTasks(o.tasks), { host: o.host, port: o.port });
    console.log(JSON.stringify({ event: 'policy_server_ready', url: policy.router.url, mode: 'parity' }));
    const stopParity = () => {
      console.log(JSON.stringify({ event: 'policy_server_stopped', loads: policy.router.loads() }));
      void policy.close().then(() => process.exit(0));
    };
    process.once('SIGINT', stopParity);
    process.once('SIGTERM', stopParity);
    return;
  }
  const body = (task: Task): Script =>
    o.script === 'gold' ? goldScript(task) : o.script === 'loop' ? loopScript() : contextFillerScript(o.fillerBytes);
  const scripts = createScriptBook(
    readTasks(o.tasks).map((task) => ({
      instanceId: task.instanceId,
      problemStatement: task.problemStatement,
      script: o.garbage > 0 ? sequence(garbageScript(o.garbage), body(task)) : body(task),
    })),
  );
  const server = await startScriptedPolicyServer({
    host: o.host,
    port: o.port,
    scripts,
    contextLimitTokens: o.contextLimit,
    behaviour: { failFirstN: o.failFirst, delayMs: o.delayMs },
  });
  console.log(JSON.stringify({ event: 'policy_server_ready', url: server.url, tasks: scripts.scripts.size }));
  const stop = () => {
    console.log(JSON.stringify({ event: 'policy_server_stopped', ...server.stats() }));
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
