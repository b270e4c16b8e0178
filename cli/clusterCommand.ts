/**
 * `swerl cluster build | compose`: the compose deployment (docker-compose.yml, docs/operations.md).
 * `build` makes its images here offline, tagged by content hash and `:local` (deploy/images.ts);
 * `compose -- ARGS` runs the Compose v2 CLI on the repository's docker-compose.yml (built from its Go
 * module the first time, deploy/composeCli.ts).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { ensureComposeCli } from '../deploy/composeCli';
import { buildClusterImages, CLUSTER_IMAGE_NAMES, type ClusterImageName } from '../deploy/images';
import { REPO_ROOT } from './dev/settings';

export const COMPOSE_FILE = join(REPO_ROOT, 'docker-compose.yml');

export function registerClusterCommand(program: Command): void {
  const cluster = program.command('cluster').description('the compose deployment (docker-compose.yml, docs/operations.md)');
  cluster
    .command('build')
    .description('build its images offline (mmdebstrap rootfs + docker build, no registry), cached by content hash, tagged :local')
    .addOption(new Option('--only <name...>', 'only these images').choices([...CLUSTER_IMAGE_NAMES]))
    .action(async (opts: { only?: ClusterImageName[] }) => {
      const started = Date.now();
      const images = await buildClusterImages({ names: opts.only, log: (line) => console.error(line) });
      for (const image of images) console.log(`${image.name}\t${image.tag}\t${image.built ? 'built' : 'cached'}\t${image.seconds.toFixed(1)} s`);
      console.error(`cluster images ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    });
  cluster
    .command('compose')
    .description('run `docker compose -f docker-compose.yml ARGS` (e.g. `cluster compose -- up -d`), building the Compose v2 CLI once if needed')
    .argument('[args...]', 'compose arguments (after --)')
    .action(async (args: string[]) => {
      const cli = await ensureComposeCli((line) => console.error(line));
      const child = spawn(cli.command, [...cli.prefix, '-f', COMPOSE_FILE, ...args], { stdio: 'inherit' });
      const code = await new Promise<number>((resolve) => {
        child.on('error', (err) => {
          console.error(`cannot run ${cli.command}: ${err.message}`);
          resolve(127);
        });
        child.on('close', (c) => resolve(c ?? 1));
      });
      process.exitCode = code;
    });
}
