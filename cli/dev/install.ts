/**
 * Installing a missing stack dependency (docker.io, postgresql, the temporal CLI) from the package
 * registries this machine can reach. Only ever called when the binary is missing, never to upgrade.
 */
import { spawnSync } from 'node:child_process';
import { ErrorCodes, StackError } from '../../core/errors';
import { type ComponentName } from './settings';

function run(component: ComponentName, what: string, command: string, args: string[]): void {
  const res = spawnSync(command, args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.status !== 0) {
    const output = `${res.stdout ?? ''}${res.stderr ?? ''}`.trimEnd().split('\n').slice(-20).join('\n');
    throw new StackError(
      ErrorCodes.STACK_DEPENDENCY_MISSING,
      `${component}: installing ${what} failed (${command} ${args.join(' ')} -> ${res.error?.message ?? `exit ${res.status}`})\n${output}`,
      { component, command: [command, ...args] },
    );
  }
}

let aptUpdated = false;

export function aptInstall(component: ComponentName, pkg: string): void {
  if (!aptUpdated) {
    run(component, pkg, 'apt-get', ['update']);
    aptUpdated = true;
  }
  run(component, pkg, 'apt-get', ['install', '-y', '--no-install-recommends', pkg]);
}

export function pipInstall(component: ComponentName, requirement: string): void {
  run(component, requirement, 'python3', ['-m', 'pip', 'install', requirement]);
}

/** The directory where pip puts console scripts for the default python3. */
export function pythonScriptsDir(): string | undefined {
  const res = spawnSync('python3', ['-c', 'import sysconfig; print(sysconfig.get_path("scripts"))'], { encoding: 'utf8' });
  return res.status === 0 ? res.stdout.trim() : undefined;
}
