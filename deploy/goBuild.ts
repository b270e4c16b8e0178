/**
 * Go builds of the deployment's tools (the Temporal server, the compose CLI): niced, because a
 * 15-minute compile on a shared machine must not starve everything else, with the tail of the
 * compiler's output in the coded error. Results are cached by version under ~/.cache/swerl.
 */
import { spawn } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, SwerlError } from '../core/errors';

/** Where versioned tool builds are cached (shared by worktrees and CI runs, like the venvs). */
export function toolCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.SWERL_VENV_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'swerl');
}

export function runGo(args: string[], opts: { what: string; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('nice', ['-n', '15', 'go', ...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let tail = '';
    child.stderr.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
    });
    child.on('error', (err) => reject(new SwerlError(ErrorCodes.STACK_DEPENDENCY_MISSING, `cannot run go (needed to build ${opts.what}): ${err.message}`, {}, { cause: err })));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new SwerlError(ErrorCodes.IMAGE_BUILD_FAILED, `building ${opts.what}: go ${args.join(' ')} exited ${code}:\n${tail.trim()}`, { code }));
    });
  });
}
