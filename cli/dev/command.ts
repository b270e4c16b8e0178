/**
 * `swerl dev up | down | status`. Registered by cli/main.ts; all behaviour lives in stack.ts.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type ComponentStatus, devDown, devStatus, devUp } from './stack';
import { redactDatabaseUrl } from '../../db/client';
import { makeTemporalCerts } from './certs';
import { passwordFile } from './pgPassword';
import { COMPONENTS, type ComponentName } from './settings';

function parseOnly(value: string): ComponentName[] {
  const names = value.split(',').map((v) => v.trim()).filter(Boolean);
  for (const n of names) {
    if (!(COMPONENTS as readonly string[]).includes(n)) {
      throw new InvalidArgumentError(`unknown component "${n}" (expected ${COMPONENTS.join(', ')})`);
    }
  }
  return names as ComponentName[];
}

/** Fixed-width table: component, state, pid, URL (and why, when not running). */
export function formatStatusTable(rows: ComponentStatus[]): string {
  const cells = [
    ['COMPONENT', 'STATE', 'PID', 'URL', 'DETAIL'],
    ...rows.map((r) => [r.name, r.state, r.pid === undefined ? '-' : String(r.pid), r.url.startsWith('postgres://') ? redactDatabaseUrl(r.url) : r.url, r.detail ?? '']),
  ];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function registerDevCommands(program: Command): void {
  const dev = program.command('dev').description('local dev stack: Docker, Temporal (dev server, or the real server with --temporal server), Postgres (state in $SWERL_HOME or .swerl/)');

  dev
    .command('up')
    .description('start the stack (idempotent: running components are reused) and write <stateDir>/endpoints.json')
    .option('--only <components>', 'comma-separated subset: docker,temporal,postgres', parseOnly)
    .addOption(
      new Option('--temporal <kind>', 'dev: `temporal server start-dev` on SQLite; server: the real temporal-server v1.32.2 on the stack\'s Postgres (built from its Go module and cached the first time, ~15 min)')
        .choices(['dev', 'server']),
    )
    .action(async (opts: { only?: ComponentName[]; temporal?: 'dev' | 'server' }) => {
      const env = opts.temporal ? { ...process.env, SWERL_TEMPORAL_KIND: opts.temporal } : process.env;
      const endpoints = await devUp({ only: opts.only, env });
      console.log(formatStatusTable(await devStatus({ env })));
      console.log(`\nTemporal  ${endpoints.temporalAddress} (namespace ${endpoints.temporalNamespace}), UI ${endpoints.temporalUiUrl}`);
      console.log(`Postgres  ${redactDatabaseUrl(endpoints.databaseUrl)} (password in ${passwordFile(endpoints.stateDir)}; the full URL in endpoints.json)`);
      console.log(`Docker    unix://${endpoints.dockerSocket}`);
    });

  dev
    .command('down')
    .description('stop what this stack started (a dockerd it did not start is left running); data is kept')
    .option('--only <components>', 'comma-separated subset: docker,temporal,postgres', parseOnly)
    .action(async (opts: { only?: ComponentName[] }) => {
      await devDown({ only: opts.only });
      console.log(formatStatusTable(await devStatus()));
    });

  dev
    .command('certs <dir>')
    .description('make a self-signed CA and server + client certificates for TLS to Temporal (SWERL_TEMPORAL_TLS_*)')
    .option('--san <names>', 'extra comma-separated server names or IPs (e.g. the frontend host)', (v: string) => v.split(',').filter(Boolean))
    .action((dir: string, opts: { san?: string[] }) => {
      const c = makeTemporalCerts(dir, { sans: opts.san });
      console.log(`CA ${c.ca}; server ${c.serverCert} + ${c.serverKey}; client ${c.clientCert} + ${c.clientKey}`);
      console.log(`export SWERL_TEMPORAL_TLS_CA=${c.ca} SWERL_TEMPORAL_TLS_CERT=${c.clientCert} SWERL_TEMPORAL_TLS_KEY=${c.clientKey}`);
    });

  dev
    .command('status')
    .description('show each component: state, pid, URL')
    .action(async () => {
      const rows = await devStatus();
      console.log(formatStatusTable(rows));
      // Non-zero when something is not running, so scripts can gate on it.
      if (rows.some((r) => r.state !== 'running')) process.exitCode = 1;
    });
}
