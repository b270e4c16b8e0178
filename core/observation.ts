/**
 * Reading what the sandbox tools print (sandbox/tools): the prompt line that ends every observation
 * and the submission block printed by `submit`. Pure, so workflows can use it on stored observations.
 */

export const SUBMISSION_START = '<<SWERL_SUBMISSION>>';
export const SUBMISSION_END = '<<SWERL_SUBMISSION_END>>';

export interface PromptState {
  /** Absolute path of the open file, or null when none is open ("n/a"). */
  openFile: string | null;
  cwd: string;
}

const PROMPT_RE = /\(Open file: (.*)\) \(Current directory: (.*)\) bash-\$\s*$/;

export function formatPromptLine(state: PromptState): string {
  return `(Open file: ${state.openFile ?? 'n/a'}) (Current directory: ${state.cwd}) bash-$`;
}

/** The state shown by the observation's final prompt line, or undefined if it has none. */
export function parsePromptLine(observation: string): PromptState | undefined {
  const lastLine = observation.replace(/\s+$/, '').split('\n').pop() ?? '';
  const m = PROMPT_RE.exec(lastLine);
  if (!m) return undefined;
  return { openFile: m[1] === 'n/a' ? null : m[1]!, cwd: m[2]! };
}

/**
 * The patch between the submission markers. undefined when the markers are missing (the tool did not
 * run to completion); '' when the agent changed nothing. The patch keeps its final newline, as
 * `git apply` expects.
 */
export function extractSubmission(observation: string): string | undefined {
  // Every patch line starts with a diff prefix (' ', '+', '-', '@', a header word, or a base85 length
  // letter), so a line equal to a marker can only be the marker itself.
  const lines = observation.split('\n');
  const start = lines.indexOf(SUBMISSION_START);
  if (start < 0) return undefined;
  const end = lines.indexOf(SUBMISSION_END, start + 1);
  if (end < 0) return undefined;
  const body = lines.slice(start + 1, end);
  return body.length === 0 ? '' : `${body.join('\n')}\n`;
}
