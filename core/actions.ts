/**
 * The agent's action grammar (paper, "Agent"): each assistant turn is free-text reasoning followed by
 * exactly one fenced command block. This module turns the assistant's text into an Action, or into a
 * FormatError whose message is the observation the agent sees (the turn still counts), and renders an
 * Action as the shell line that runs it inside the sandbox through the tool scripts in sandbox/tools.
 *
 * Pure and total: used inside Temporal workflows, so no I/O, no randomness, and it never throws on
 * any input (garbage, huge text, unterminated fences, CRLF).
 */
import { type ErrorCodes } from './errors';

export type Action =
  | { kind: 'shell'; command: string }
  | { kind: 'open'; path: string; line?: number }
  | { kind: 'goto'; line: number }
  | { kind: 'scroll_up' }
  | { kind: 'scroll_down' }
  | { kind: 'create'; path: string }
  /** `text` is the replacement, each line terminated by '\n'; '' deletes lines start..end. */
  | { kind: 'edit'; start: number; end: number; text: string }
  | { kind: 'search_file'; pattern: string; path?: string }
  | { kind: 'submit' };

export type ActionKind = Action['kind'];

export interface FormatError {
  code:
    | typeof ErrorCodes.FORMAT_NO_BLOCK
    | typeof ErrorCodes.FORMAT_MULTIPLE_BLOCKS
    | typeof ErrorCodes.FORMAT_BAD_ARGS
    | typeof ErrorCodes.FORMAT_EMPTY;
  /** The observation text shown to the agent. */
  message: string;
}

export type ParseResult = { ok: true; action: Action; thought: string } | { ok: false; error: FormatError };

/** Where the image builder installs sandbox/tools. */
export const TOOLS_DIR = '/opt/swerl/tools';
export const TOOLS_BIN = `${TOOLS_DIR}/bin`;

/** Terminates the replacement text of `edit`; a line equal to it (ignoring surrounding blanks) ends the text. */
export const END_OF_EDIT = 'end_of_edit';

const TOOL_NAMES = ['open', 'goto', 'scroll_up', 'scroll_down', 'create', 'edit', 'search_file', 'submit'] as const;
type ToolName = (typeof TOOL_NAMES)[number];

const FORMAT_REMINDER =
  'Every response must contain your reasoning followed by exactly ONE command block, fenced with triple backticks:\n' +
  '```\n<command>\n```';

export function parseAction(assistantText: string): ParseResult {
  try {
    return parseUnsafe(typeof assistantText === 'string' ? assistantText : '');
  } catch {
    // Defensive only: the parser is written not to throw, but a workflow must never crash on model output.
    return fail('SWERL_FORMAT_NO_BLOCK', `Your response could not be parsed.\n${FORMAT_REMINDER}`);
  }
}

function parseUnsafe(raw: string): ParseResult {
  // NUL cannot travel in a process argument or a here-document; CR would end up in commands and file text.
  const text = raw.replace(/\r\n?/g, '\n').replaceAll('\u0000', '');
  if (text.trim() === '') {
    return fail('SWERL_FORMAT_EMPTY', `Your response was empty.\n${FORMAT_REMINDER}`);
  }
  const scan = scanFences(text.split('\n'));
  if (scan.blocks.length > 1) {
    return fail(
      'SWERL_FORMAT_MULTIPLE_BLOCKS',
      `Your response contained ${scan.blocks.length} command blocks; exactly one is allowed per response, ` +
        `so nothing was run.\n${FORMAT_REMINDER}`,
    );
  }
  if (scan.blocks.length === 0) {
    const why = scan.unterminated
      ? 'Your command block was not closed with triple backticks, so nothing was run.'
      : 'Your response did not contain a command block, so nothing was run.';
    return fail('SWERL_FORMAT_NO_BLOCK', `${why}\n${FORMAT_REMINDER}`);
  }
  const block = scan.blocks[0]!;
  const thought = scan.outside.join('\n').trim();
  const body = trimBlankLines(block);
  if (body.length === 0) {
    return fail('SWERL_FORMAT_EMPTY', `Your command block was empty, so nothing was run.\n${FORMAT_REMINDER}`);
  }
  const parsed = parseCommand(body);
  return parsed.ok ? { ok: true, action: parsed.action, thought } : parsed;
}

interface FenceScan {
  blocks: string[][];
  outside: string[];
  unterminated: boolean;
}

/**
 * CommonMark-style fences: an opening line of >= 3 backticks plus an info string without backticks
 * (```bash, ```sh, ...); the block closes at a line of only backticks, at least as many as opened it.
 * A longer outer fence (````) can therefore carry ``` lines inside it.
 */
function scanFences(lines: string[]): FenceScan {
  const blocks: string[][] = [];
  const outside: string[] = [];
  let open: { ticks: number; body: string[]; opener: string } | undefined;
  for (const line of lines) {
    if (open) {
      const close = /^\s*(`{3,})\s*$/.exec(line);
      if (close && close[1]!.length >= open.ticks) {
        blocks.push(open.body);
        open = undefined;
      } else {
        open.body.push(line);
      }
      continue;
    }
    const opener = /^\s*(`{3,})([^`]*)$/.exec(line);
    if (opener) {
      open = { ticks: opener[1]!.length, body: [], opener: line };
    } else {
      outside.push(line);
    }
  }
  if (open) outside.push(open.opener, ...open.body);
  return { blocks, outside, unterminated: open !== undefined };
}

function trimBlankLines(lines: string[]): string[] {
  let a = 0;
  let b = lines.length;
  while (a < b && lines[a]!.trim() === '') a++;
  while (b > a && lines[b - 1]!.trim() === '') b--;
  return lines.slice(a, b);
}

type CommandResult = { ok: true; action: Action } | { ok: false; error: FormatError };

function parseCommand(body: string[]): CommandResult {
  const first = body[0]!.trim();
  const name = /^(\S+)/.exec(first)?.[1] ?? '';
  if (!isToolName(name)) {
    return { ok: true, action: { kind: 'shell', command: body.join('\n').replace(/\s+$/, '') } };
  }
  const argText = first.slice(name.length).trim();
  if (name === 'edit') return parseEdit(argText, body.slice(1));
  if (body.length > 1) {
    return badArgs(`\`${name}\` must be the only command in its block. ${USAGE[name]}`);
  }
  const tokens = tokenize(argText);
  if (tokens === undefined) return badArgs(`Unterminated quote in the arguments of \`${name}\`. ${USAGE[name]}`);
  switch (name) {
    case 'open': {
      if (tokens.length < 1 || tokens.length > 2) return badArgs(USAGE.open);
      if (tokens.length === 1) return ok({ kind: 'open', path: tokens[0]! });
      const line = parseLineNumber(tokens[1]!);
      return line === undefined ? badArgs(USAGE.open) : ok({ kind: 'open', path: tokens[0]!, line });
    }
    case 'goto': {
      const line = tokens.length === 1 ? parseLineNumber(tokens[0]!) : undefined;
      return line === undefined ? badArgs(USAGE.goto) : ok({ kind: 'goto', line });
    }
    case 'create':
      return tokens.length === 1 ? ok({ kind: 'create', path: tokens[0]! }) : badArgs(USAGE.create);
    case 'search_file': {
      if (tokens.length < 1 || tokens.length > 2 || tokens[0] === '') return badArgs(USAGE.search_file);
      return ok(tokens.length === 1 ? { kind: 'search_file', pattern: tokens[0]! }
        : { kind: 'search_file', pattern: tokens[0]!, path: tokens[1]! });
    }
    case 'scroll_up':
    case 'scroll_down':
    case 'submit':
      return tokens.length === 0 ? ok({ kind: name }) : badArgs(USAGE[name]);
  }
}

function parseEdit(argText: string, rest: string[]): CommandResult {
  const range = /^(\d{1,9})\s*:\s*(\d{1,9})$/.exec(argText);
  if (!range) return badArgs(USAGE.edit);
  const start = Number(range[1]);
  const end = Number(range[2]);
  if (start < 1 || end < start) {
    return badArgs(`Invalid line range ${start}:${end}: need 1 <= start <= end. ${USAGE.edit}`);
  }
  const stop = rest.findIndex((l) => l.trim() === END_OF_EDIT);
  if (stop < 0) return badArgs(`The edit text was not terminated by a line \`${END_OF_EDIT}\`. ${USAGE.edit}`);
  if (rest.slice(stop + 1).some((l) => l.trim() !== '')) {
    return badArgs(`Nothing may follow \`${END_OF_EDIT}\` in the command block. ${USAGE.edit}`);
  }
  const text = rest.slice(0, stop).map((l) => `${l}\n`).join('');
  return ok({ kind: 'edit', start, end, text });
}

const USAGE: Record<ToolName, string> = {
  open: 'Usage: `open <file> [<line_number>]`',
  goto: 'Usage: `goto <line_number>` (a positive integer)',
  scroll_up: 'Usage: `scroll_up` (no arguments)',
  scroll_down: 'Usage: `scroll_down` (no arguments)',
  create: 'Usage: `create <file>`',
  edit: `Usage: \`edit <start_line>:<end_line>\`, then the replacement lines, then a line \`${END_OF_EDIT}\``,
  search_file: 'Usage: `search_file <pattern> [<file>]` (quote a pattern that contains spaces)',
  submit: 'Usage: `submit` (no arguments)',
};

function isToolName(s: string): s is ToolName {
  return (TOOL_NAMES as readonly string[]).includes(s);
}

function parseLineNumber(s: string): number | undefined {
  if (!/^\d{1,9}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 ? n : undefined;
}

/** Shell-like words: '...' literal, "..." with \" and \\ escapes, \x outside quotes. undefined if a quote is open. */
export function tokenize(s: string): string[] | undefined {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) return undefined;
      cur += s.slice(i + 1, j);
      inWord = true;
      i = j;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < s.length && s[j] !== '"'; j++) {
        if (s[j] === '\\' && (s[j + 1] === '"' || s[j + 1] === '\\')) j++;
        cur += s[j];
      }
      if (j >= s.length) return undefined;
      inWord = true;
      i = j;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

function ok(action: Action): CommandResult {
  return { ok: true, action };
}

function badArgs(message: string): { ok: false; error: FormatError } {
  return fail('SWERL_FORMAT_BAD_ARGS', `${message}\nNothing was run.`);
}

function fail(code: FormatError['code'], message: string): { ok: false; error: FormatError } {
  return { ok: false, error: { code, message } };
}

// ---------------------------------------------------------------------------------------------
// Rendering: the line the sandbox runs with `bash -c` (or `sh -c`) as the agent's user.

export interface RenderOptions {
  /** Per shell command, enforced inside the container by _swerl_run (config: sandbox.commandTimeoutSec). */
  timeoutSec?: number;
  /** Shell output beyond this many bytes is cut in the middle (config: sandbox.outputLimitBytes). */
  outputLimitBytes?: number;
}

/**
 * The limits to render with when the sandbox also enforces `limits` around the whole exec: the
 * tools' own timeout must fire first (the command runs in its own process group, which an outer
 * kill does not reach, and only the inner kill still prints the prompt line), and their output cap
 * must leave room for the omission note and the prompt line under the outer byte cap.
 */
export function innerRenderOptions(limits: { commandTimeoutSec: number; outputLimitBytes: number }): RenderOptions {
  const t = Math.floor(limits.commandTimeoutSec);
  return {
    timeoutSec: Math.max(1, t - Math.min(5, Math.floor(t / 4))),
    outputLimitBytes: Math.max(1024, Math.floor(limits.outputLimitBytes) - 4096),
  };
}

/**
 * Free text (shell commands, edit replacements) travels on stdin through a quoted here-document, so
 * quotes, `$`, backticks and newlines reach the tool byte for byte. The delimiter is chosen to differ
 * from every line of the text, which is collision-free by construction (and deterministic).
 */
export function renderActionCommand(action: Action, opts: RenderOptions = {}): string {
  const bin = (tool: string) => `${TOOLS_BIN}/${tool}`;
  switch (action.kind) {
    case 'shell': {
      const flags = [
        opts.timeoutSec !== undefined ? `--timeout ${Math.max(1, Math.floor(opts.timeoutSec))}` : '',
        opts.outputLimitBytes !== undefined ? `--limit ${Math.max(1, Math.floor(opts.outputLimitBytes))}` : '',
      ].filter((f) => f !== '');
      return hereDoc([bin('_swerl_run'), ...flags].join(' '), `${action.command}\n`);
    }
    case 'open':
      return [bin('open'), shellQuote(action.path), ...(action.line !== undefined ? [String(action.line)] : [])].join(' ');
    case 'goto':
      return `${bin('goto')} ${action.line}`;
    case 'scroll_up':
    case 'scroll_down':
    case 'submit':
      return bin(action.kind);
    case 'create':
      return `${bin('create')} ${shellQuote(action.path)}`;
    case 'edit':
      return hereDoc(`${bin('edit')} ${action.start} ${action.end}`, action.text);
    case 'search_file':
      return [bin('search_file'), shellQuote(action.pattern), ...(action.path !== undefined ? [shellQuote(action.path)] : [])].join(' ');
  }
}

/** Prints a format error's message followed by the prompt line, so it reads like any other observation. */
export function renderFormatErrorCommand(error: FormatError): string {
  return hereDoc(`${TOOLS_BIN}/_swerl_prompt --message`, `${error.message}\n`);
}

/** Prints only the prompt line (e.g. the first observation of an episode). */
export function renderPromptCommand(): string {
  return `${TOOLS_BIN}/_swerl_prompt`;
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `text` must be '' or end with '\n' so the delimiter lands on a line of its own. */
function hereDoc(commandLine: string, text: string): string {
  const body = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  const lines = new Set(body.split('\n'));
  let n = 0;
  while (lines.has(`SWERL_EOF_${n}`)) n++;
  const delim = `SWERL_EOF_${n}`;
  return `${commandLine} <<'${delim}'\n${body}${delim}\n`;
}
