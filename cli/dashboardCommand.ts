/**
 * `swerl dashboard`: the operator console, a local web app served by this process (dashboard/).
 * Listens on 127.0.0.1 unless told otherwise; a token (--token or $SWERL_DASHBOARD_TOKEN) guards
 * the actions, and without one a non-loopback bind is read-only.
 */
import { Option, type Command } from 'commander';
import { ConfigError, ErrorCodes } from '../core/errors';
import { startDashboard } from '../dashboard/server';
import { parseStallAfter } from '../dashboard/stall';
import { resolveEndpoints } from '../workers/endpoints';
import { withClient, withDb } from './connections';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(ErrorCodes.CONFIG_INVALID, `--port must be 0..65535, got "${value}"`, { port: value });
  return n;
}

export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('the operator console: runs, live curves, trajectories, promotion and pause/resume/abort, in the browser')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .addOption(new Option('--port <n>', 'port (0 = any free one)').default(8765).argParser(port))
    .addOption(new Option('--token <secret>', 'required by actions (pause/resume/abort/promote); needed for them on a non-loopback address').env('SWERL_DASHBOARD_TOKEN'))
    .addOption(new Option('--stall-after <sec>', "flag a running run as stalled after this long without progress (default: each run's timeouts.stallAfterSec)").argParser(parseStallAfter))
    .action(async (opts: { host: string; port: number; token?: string; stallAfter?: number }) => {
      const endpoints = resolveEndpoints();
      await withDb(({ db }) =>
        withClient(async (client) => {
          const dashboard = await startDashboard({
            db,
            client,
            host: opts.host,
            port: opts.port,
            token: opts.token,
            temporalUiUrl: endpoints.temporalUiUrl,
            namespace: endpoints.temporalNamespace,
            stallAfterSec: opts.stallAfter,
          });
          console.log(`swerl dashboard on ${dashboard.url}${opts.token ? ' (actions need the token: open it once with ?token=…)' : ''}`);
          await new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          });
          await dashboard.close();
        }),
        // A fresh database has no tables yet: migrating is idempotent and lets the page show "no runs".
        { migrate: true },
      );
    });
}
