/**
 * Input checks shared by the RL formulas. A formula fed a negative turn count or a NaN reward
 * would return a plausible-looking number and silently corrupt a gradient step hours later, so
 * every public function checks its inputs and names the bad one. Not retried: the caller has a bug.
 */
import { ErrorCodes, RunError } from '../errors';

export function invalidInput(message: string, details: Record<string, unknown> = {}): RunError {
  return new RunError(ErrorCodes.RL_INPUT_INVALID, message, details);
}

export function requireInt(what: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw invalidInput(`${what} must be an integer >= ${min}, got ${String(value)}`, { [what]: value });
  }
}

export function requireFinite(what: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalidInput(`${what} must be a finite number, got ${String(value)}`, { [what]: value });
  }
}

/** Ids that key durable rows (episodes, tasks) must be unique within one call. */
export function requireUniqueIds(what: string, ids: readonly string[]): void {
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw invalidInput(`${what} "${id}" appears more than once`, { [what]: id });
    seen.add(id);
  }
}

/**
 * Code-unit order, not localeCompare: the result must not depend on the ICU data of whichever
 * worker replays the workflow.
 */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
