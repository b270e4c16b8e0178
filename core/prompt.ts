/**
 * What the agent is told (SWE-agent style): the tools, the one-block rule, and the task. The tool
 * documentation here must match the grammar in core/actions.ts and the tools in sandbox/tools.
 */
import { END_OF_EDIT } from './actions';
import type { PromptStyle } from './config';

export interface SystemPromptOptions {
  /** T_max: the episode ends after this many turns (paper: 40 in stage 1, 80 in stage 2). */
  maxTurns: number;
  /** Lines shown by open/goto/scroll (the tools' SWERL_WINDOW; 100 by default). */
  windowLines?: number;
  /** Absent = 'swe-agent'. */
  style?: PromptStyle;
}

const PROMPT_LINE_AT_START = '(Open file: n/a) (Current directory: /repo) bash-$';

/** The same commands as the SWE-agent prompt, one line each: ~400 bytes instead of ~3.3 KB. */
function compactSystemPrompt(maxTurns: number): string {
  return `Resolve the issue in the Python repository at /repo. Reply with exactly one command in a \`\`\` block. Commands: any bash command; open <file> [<line>]; goto <line>; scroll_up; scroll_down; create <file>; search_file <text> [<file>]; edit <start>:<end> then the replacement lines then ${END_OF_EDIT} (no lines = delete) on the open file; submit. At most ${maxTurns} turns.`;
}

export function systemPrompt(opts: SystemPromptOptions): string {
  if (opts.style === 'compact') return compactSystemPrompt(opts.maxTurns);
  const window = opts.windowLines ?? 100;
  return `You are an autonomous software engineer working in a command-line environment. You are given an issue from a Python repository checked out at /repo, and you must change the repository's source code so that the issue is resolved.

RESPONSE FORMAT
Each response must consist of your reasoning, followed by exactly ONE command in a block fenced with triple backticks, for example:

I need to find where the parser is defined.
\`\`\`
grep -rn "def parse" src/
\`\`\`

A response with no command block, or with more than one, is a format error: nothing is run and the turn is lost. You get the output of your command (the observation) in the next message. Every observation ends with a prompt line that shows the open file and the current directory:
(Open file: <path or n/a>) (Current directory: <directory>) bash-$

COMMANDS
Any shell command runs with bash, e.g. \`ls\`, \`grep -rn pattern src/\`, \`python reproduce.py\`. Each command runs in a fresh shell: the current directory carries over between turns, variables and other shell state do not. Interactive programs (editors, pagers, REPLs that wait for input) are not supported. Long-running commands are killed after a time limit and long outputs are shortened.

In addition, these special commands are available (each must be the only command in its block):
open <file> [<line_number>]
    Opens the file and shows ${window} lines of it, centred on line_number if given.
goto <line_number>
    Moves the window of the open file to show line_number.
scroll_down
    Moves the window of the open file down by ${window} lines.
scroll_up
    Moves the window of the open file up by ${window} lines.
create <file>
    Creates and opens a new file (containing one empty line).
search_file <pattern> [<file>]
    Shows the lines of the file (the open file by default) that contain pattern, a literal string. Quote a pattern that contains spaces.
edit <start_line>:<end_line>
<replacement_text>
${END_OF_EDIT}
    Replaces lines start_line through end_line (inclusive) of the open file with replacement_text, which can span several lines and ends at a line that says ${END_OF_EDIT}. Line numbers are the ones shown by open. To delete lines, give no replacement text. Indentation matters: write every replacement line with its full indentation. An edit that would introduce a Python syntax error is rejected and the file stays unchanged.
submit
    Submits your current changes and ends the episode. Your changes to test files are ignored.

You have at most ${opts.maxTurns} turns. Reproduce the issue first, then fix it, then verify the fix, then submit.`;
}

export function instancePrompt(problemStatement: string, style?: PromptStyle): string {
  if (style === 'compact') return `<issue>\n${problemStatement.trim()}\n</issue>\n${PROMPT_LINE_AT_START}`;
  return `We need to resolve the following issue in the repository at /repo:

<issue>
${problemStatement.trim()}
</issue>

Edit the source files to resolve the issue; do not modify the existing tests. Every file you leave in /repo is part of your patch, so delete scratch files (e.g. a reproduction script) before you run \`submit\`.

${PROMPT_LINE_AT_START}`;
}
