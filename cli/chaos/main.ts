/**
 * `npm run chaos -- --minutes M --seed S`: the chaos soak (soak.ts). Prints a table of every kill
 * and the comparison, writes the JSON report, and exits non-zero on any difference or leak.
 */
import { Command, Option } from 'commander';
import { installTemporalLogging } from '../../workers/logging';
import { CHAOS_COMPONENTS, parseRange, type ChaosComponent } from './schedule';
import { runSoak, type SoakReport } from './soak';

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const num = (x: number | null, digits = 1) => (x === null ? '-' : x.toFixed(digits));

export function formatReport(r: SoakReport): string {
  const lines: string[] = [];
  lines.push(`chaos soak ${r.runId}: ${(r.chaosSec / 60).toFixed(1)} min of kills, ${(r.totalSec / 60).toFixed(1)} min in all`);
  lines.push('');
  lines.push(`${pad('#', 4)}${pad('t (s)', 8)}${pad('component', 22)}${pad('pid', 9)}${pad('back (s)', 10)}${pad('progress (s)', 14)}note`);
  for (const k of r.kills) {
    const note = [k.skipped, k.target ? `container ${k.target}` : undefined, k.errors.length ? `${k.errors.length} restart error(s)` : undefined].filter(Boolean).join('; ');
    lines.push(`${pad(String(k.index), 4)}${pad(k.atSec.toFixed(0), 8)}${pad(k.component, 22)}${pad(String(k.pid ?? '-'), 9)}${pad(num(k.restoredSec), 10)}${pad(num(k.recoverySec), 14)}${note}`);
  }
  lines.push('');
  lines.push(`kills by component: ${Object.entries(r.killsByComponent).map(([c, n]) => `${c} ${n}`).join(', ')}`);
  if (r.unplannedExits.length) lines.push(`unplanned exits (restarted by the supervisor): ${r.unplannedExits.map((e) => `${e.world}/${e.name} at ${e.atSec.toFixed(0)} s (${e.how})`).join(', ')}`);
  lines.push(`iterations compared: ${r.comparison.scope.length} (${r.comparison.scope.join(', ')})`);
  lines.push(`records compared: ${Object.entries(r.comparison.compared).map(([s, n]) => `${s} ${n}`).join(', ')}`);
  lines.push(`infra failures (retried, not compared): chaos ${r.runs.chaos.infraFailures}, reference ${r.runs.reference.infraFailures}`);
  lines.push(`excluded: ${r.comparison.excluded.map((e) => `${e.section}.${e.field}`).join(', ')}`);
  lines.push(`differences: ${r.comparison.differenceCount}`);
  for (const d of r.comparison.differences.slice(0, 20)) {
    lines.push(`  ${d.section} ${d.key} ${d.field}: reference ${JSON.stringify(d.reference)} vs chaos ${JSON.stringify(d.chaos)}`);
  }
  lines.push(`leaked containers: ${r.leaks.chaos} (disturbed world), ${r.leaks.reference} (reference); orphans reaped within ${num(r.leaks.orphansReapedWithinSec, 0)} s`);
  const shims = r.leaks.strayShims;
  if (shims) lines.push(`stray containerd shims: ${shims.found} found, ${shims.deleted} deleted by ctr, ${shims.killed} killed, ${shims.left} left`);
  lines.push(`verdict: ${r.verdict.toUpperCase()}${r.reasons.length ? ` — ${r.reasons.join('; ')}` : ''}`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<void> {
  const cmd = new Command('chaos')
    .description('kill a random component every ~45-60 s during a seeded toy run; compare with an undisturbed run of the same seed')
    .option('--minutes <m>', 'how long to keep killing', Number, 5)
    .option('--seed <s>', 'seed of the kill plan (the run itself uses the toy preset seed)', Number, 1)
    .option('--interval <sec>', 'seconds between kills, a range', '45-60')
    .option('--restart-delay <sec>', 'seconds before the supervisor restarts a killed component, a range', '1-5')
    .addOption(new Option('--components <list>', `comma-separated subset of ${CHAOS_COMPONENTS.join(',')}`).default(CHAOS_COMPONENTS.join(',')))
    .option('--tasks <n>', 'train tasks of the toy suite the run uses', Number, 6)
    .option('--min-kinds <n>', 'fail unless this many different kinds of component were killed', Number, 1)
    .option('--report <file>', 'JSON report path (default $SWERL_HOME/chaos/<run>/report.json)')
    .parse(argv);
  const o = cmd.opts<{ minutes: number; seed: number; interval: string; restartDelay: string; components: string; tasks: number; minKinds: number; report?: string }>();
  const components = o.components.split(',').map((c) => c.trim()) as ChaosComponent[];
  for (const c of components) if (!CHAOS_COMPONENTS.includes(c)) throw new Error(`unknown component ${c} (known: ${CHAOS_COMPONENTS.join(', ')})`);
  if (!(o.minutes > 0) || !Number.isInteger(o.seed) || !(o.tasks >= 2)) throw new Error('--minutes > 0, an integer --seed and --tasks >= 2, please');
  installTemporalLogging('warn');
  const report = await runSoak({
    minutes: o.minutes,
    seed: o.seed,
    intervalSec: parseRange(o.interval),
    restartDelaySec: parseRange(o.restartDelay),
    components,
    tasks: o.tasks,
    report: o.report,
    minKinds: o.minKinds,
    log: (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
  });
  console.log(`\n${formatReport(report)}`);
  if (report.verdict !== 'pass') process.exitCode = 1;
}

main(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
