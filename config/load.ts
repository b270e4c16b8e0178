import { readFileSync, existsSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseRunConfig, type RunConfig } from '../core/config';
import { ConfigError, ErrorCodes } from '../core/errors';

export const PRESETS = ['paper-stage1', 'paper-stage2', 'toy', 'learn', 'learn-rl-tune'] as const;

/** Resolves a preset name (e.g. `toy`) or a path to a YAML/JSON file. */
export function resolveConfigPath(nameOrPath: string): string {
  if ((PRESETS as readonly string[]).includes(nameOrPath)) return join(__dirname, `${nameOrPath}.yaml`);
  return resolve(nameOrPath);
}

/** Reads and validates a run config; every violation is reported with its path. */
export function loadRunConfig(nameOrPath: string): RunConfig {
  const path = resolveConfigPath(nameOrPath);
  if (!existsSync(path)) {
    throw new ConfigError(ErrorCodes.CONFIG_NOT_FOUND, `no config file at ${path} (presets: ${PRESETS.join(', ')})`, { path });
  }
  const text = readFileSync(path, 'utf8');
  let raw: unknown;
  try {
    raw = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(ErrorCodes.CONFIG_INVALID, `${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`, { path }, { cause: err });
  }
  return parseRunConfig(raw, path);
}
