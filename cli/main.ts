#!/usr/bin/env -S npx tsx
/**
 * The `swerl` command. Every verb prints a coded error (SWERL_*) and exits non-zero on failure.
 */
import { Command, Option } from 'commander';
import { loadRunConfig } from '../config/load';
import { SwerlError } from '../core/errors';
import { registerClusterCommand } from './clusterCommand';
import { registerDashboardCommand } from './dashboardCommand';
import { registerDemoCommand } from './demo';
import { registerDevCommands } from './dev/command';
import { registerEpisodeCommands } from './episodeCommands';
import { registerRunCommands } from './runCommands';
import { registerTaskCommands } from './taskCommands';
import { registerTrainingCommands } from './trainingCommands';
import { registerTrackCommand } from './track';

const program = new Command()
  .name('swerl')
  .description('Durable RL training of software-engineering agents on Temporal')
  .showHelpAfterError();

registerDevCommands(program);
registerRunCommands(program);
registerDemoCommand(program);
registerTaskCommands(program);
registerEpisodeCommands(program);
registerTrainingCommands(program);
registerDashboardCommand(program);
registerTrackCommand(program);
registerClusterCommand(program);

program
  .command('config')
  .description('configuration files')
  .command('validate')
  .argument('<file>', 'YAML/JSON run config, or a preset name (paper-stage1, paper-stage2, toy)')
  .addOption(new Option('--print', 'print the config with defaults filled in'))
  .action((file: string, opts: { print?: boolean }) => {
    const config = loadRunConfig(file);
    console.log(opts.print ? JSON.stringify(config, null, 2) : `${file}: valid (${config.stages.map((s) => s.name).join(' → ')})`);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof SwerlError) {
    console.error(err.message);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
