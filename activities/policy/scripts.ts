/**
 * Scripts the scripted policy server replays: what an agent says at turn t of an episode on a task.
 * A script is a pure function of the turn index, so a retried request for the same turn gets the
 * same answer (what the durability tests rely on). Replies follow the agent format of core/actions:
 * reasoning, a blank line, then exactly one fenced command.
 */
import { END_OF_EDIT, type Action } from '../../core/actions';
import { ErrorCodes, TaskError } from '../../core/errors';
import type { Task } from '../../core/tasks';
import { parseUnifiedDiff } from './unifiedDiff';

export interface Script {
  name: string;
  /** Number of scripted turns; undefined = unbounded. Past the end the last reply repeats. */
  length?: number;
  reply(turn: number): string;
}

// ---------------------------------------------------------------------------------------------
// Rendering actions as agent text (the inverse of core/actions.parseAction)
// ---------------------------------------------------------------------------------------------

/** Quotes an argument for the tools' tokenizer (core/actions.tokenize) only when it needs it. */
function agentArg(s: string): string {
  return /^[^\s'"\\]+$/.test(s) ? s : `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** The text inside the command block that parses back to `action`. */
export function commandText(action: Action): string {
  switch (action.kind) {
    case 'shell':
      return action.command;
    case 'open':
      return `open ${agentArg(action.path)}${action.line !== undefined ? ` ${action.line}` : ''}`;
    case 'goto':
      return `goto ${action.line}`;
    case 'scroll_up':
    case 'scroll_down':
    case 'submit':
      return action.kind;
    case 'create':
      return `create ${agentArg(action.path)}`;
    case 'search_file':
      return `search_file ${agentArg(action.pattern)}${action.path !== undefined ? ` ${agentArg(action.path)}` : ''}`;
    case 'edit':
      return `edit ${action.start}:${action.end}\n${action.text}${END_OF_EDIT}`;
  }
}

/** Reasoning, a blank line, one fenced block. The fence outgrows any backtick-only line of the command. */
export function renderReply(thought: string, command: string): string {
  const longest = command.split('\n').reduce((n, l) => Math.max(n, /^\s*(`+)\s*$/.exec(l)?.[1]!.length ?? 0), 0);
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${thought}\n\n${fence}\n${command}\n${fence}`;
}

// ---------------------------------------------------------------------------------------------
// The gold patch through the tools
// ---------------------------------------------------------------------------------------------

export interface ScriptedAction {
  thought: string;
  action: Action;
}

function shellArg(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function editText(lines: string[], file: string, label: string): string {
  if (lines.some((l) => l.trim() === END_OF_EDIT)) {
    throw new TaskError(ErrorCodes.TASK_INVALID, `${label}: ${file} contains a line "${END_OF_EDIT}", which the edit tool cannot write`, { label, file });
  }
  return lines.map((l) => `${l}\n`).join('');
}

/**
 * The gold patch as tool actions: per file, `open` it and `edit` each hunk's old line range with its
 * new lines, bottom-up so the line numbers of the hunks above stay valid; new files are `create`d
 * and filled, deleted ones removed with `rm`, renames moved with `mv`. Ends with `submit`.
 */
export function goldActions(patch: string, label = 'gold patch'): ScriptedAction[] {
  const out: ScriptedAction[] = [];
  for (const file of parseUnifiedDiff(patch, label)) {
    const path = file.newPath ?? file.oldPath ?? '';
    if (file.binary) {
      throw new TaskError(ErrorCodes.TASK_INVALID, `${label}: ${path} is a binary change; the tools cannot replay it`, { label, file: path });
    }
    if (file.newPath === null) {
      out.push({ thought: `${file.oldPath} is no longer needed, so I remove it.`, action: { kind: 'shell', command: `rm ${shellArg(file.oldPath!)}` } });
      continue;
    }
    if (file.oldPath === null) {
      out.push({ thought: `I need a new file ${path}.`, action: { kind: 'create', path } });
      const added = file.hunks.flatMap((h) => h.lines.filter((l) => l.op === '+').map((l) => l.text));
      if (added.length > 0) {
        out.push({ thought: `Now I write the contents of ${path}.`, action: { kind: 'edit', start: 1, end: 1, text: editText(added, path, label) } });
      }
      continue;
    }
    if (file.oldPath !== file.newPath) {
      const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
      const mv = `mv ${shellArg(file.oldPath)} ${shellArg(path)}`;
      out.push({ thought: `${file.oldPath} should live at ${path}.`, action: { kind: 'shell', command: dir ? `mkdir -p ${shellArg(dir)} && ${mv}` : mv } });
    }
    if (file.hunks.length === 0) continue;
    const hunks = [...file.hunks].sort((a, b) => b.oldStart - a.oldStart);
    out.push({ thought: `Let me look at ${path} around line ${hunks[0]!.oldStart}.`, action: { kind: 'open', path, line: hunks[0]!.oldStart } });
    for (const h of hunks) {
      const next = h.lines.filter((l) => l.op !== '-').map((l) => l.text);
      let start = h.oldStart;
      let end = h.oldStart + h.oldCount - 1;
      if (h.oldCount === 0) {
        if (h.oldStart !== 0) {
          throw new TaskError(
            ErrorCodes.TASK_INVALID,
            `${label}: hunk @@ -${h.oldStart},0 @@ of ${path} inserts without context; the line-range edit cannot replay it`,
            { label, file: path },
          );
        }
        start = 1; // an empty file: the tool allows 1:1 there
        end = 1;
      }
      out.push({
        thought: `Lines ${start}-${end} of ${path} need to change.`,
        action: { kind: 'edit', start, end, text: editText(next, path, label) },
      });
    }
  }
  out.push({ thought: 'The fix is in place, so I submit it.', action: { kind: 'submit' } });
  return out;
}

export function scriptFromActions(name: string, actions: readonly ScriptedAction[]): Script {
  const replies = actions.map((a) => renderReply(a.thought, commandText(a.action)));
  return { name, length: replies.length, reply: (turn) => replies[Math.min(turn, replies.length - 1)]! };
}

export function goldScript(task: Pick<Task, 'instanceId' | 'goldPatch'>): Script {
  return scriptFromActions(`gold:${task.instanceId}`, goldActions(task.goldPatch, `gold patch of ${task.instanceId}`));
}

// ---------------------------------------------------------------------------------------------
// Failure-mode scripts
// ---------------------------------------------------------------------------------------------

/** n replies without any command block: format errors (the turn still counts). */
export function garbageScript(n: number): Script {
  return {
    name: `garbage:${n}`,
    length: n,
    reply: (turn) => `I think the problem is somewhere in the code, but I am not sure where (attempt ${turn + 1}). Let me think about it more.`,
  };
}

/** The same harmless command forever: an agent that loops until T_max. */
export function loopScript(command = 'ls'): Script {
  const text = renderReply('Let me look at the files once more.', command);
  return { name: `loop:${command}`, reply: () => text };
}

/** Each turn runs a command printing `bytes` bytes, so observations fill the context quickly. */
export function contextFillerScript(bytes: number): Script {
  const text = renderReply(`I will print the whole log (${bytes} bytes).`, `yes 'swerl context filler line' | head -c ${bytes}`);
  return { name: `filler:${bytes}`, reply: () => text };
}

/** Plays the parts one after another, e.g. sequence(garbageScript(3), goldScript(task)). */
export function sequence(...parts: Script[]): Script {
  if (parts.length === 0) throw new RangeError('sequence needs at least one script');
  parts.slice(0, -1).forEach((p) => {
    if (p.length === undefined) throw new RangeError(`sequence: ${p.name} is unbounded, so nothing after it would play`);
  });
  const total = parts.every((p) => p.length !== undefined) ? parts.reduce((n, p) => n + p.length!, 0) : undefined;
  return {
    name: parts.map((p) => p.name).join('+'),
    length: total,
    reply(turn) {
      let t = turn;
      for (const p of parts.slice(0, -1)) {
        if (t < p.length!) return p.reply(t);
        t -= p.length!;
      }
      return parts[parts.length - 1]!.reply(t);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Script book: which script plays for which task
// ---------------------------------------------------------------------------------------------

export interface ScriptBook {
  scripts: ReadonlyMap<string, Script>;
  /** Trimmed problem statement → instance id: finds the task in a prompt that carries no id. */
  byProblemStatement: ReadonlyMap<string, string>;
  /** Plays for a task the book does not know; without it such a request is refused (HTTP 404). */
  fallback?: Script;
}

export interface ScriptEntry {
  instanceId: string;
  problemStatement?: string;
  script: Script;
}

export function createScriptBook(entries: readonly ScriptEntry[], fallback?: Script): ScriptBook {
  const scripts = new Map<string, Script>();
  const byProblemStatement = new Map<string, string>();
  for (const e of entries) {
    if (scripts.has(e.instanceId)) throw new RangeError(`script book: ${e.instanceId} appears twice`);
    scripts.set(e.instanceId, e.script);
    if (e.problemStatement !== undefined) {
      const key = e.problemStatement.trim();
      const other = byProblemStatement.get(key);
      if (other !== undefined) {
        throw new RangeError(`script book: ${e.instanceId} and ${other} have the same problem statement, so a prompt cannot tell them apart`);
      }
      byProblemStatement.set(key, e.instanceId);
    }
  }
  return { scripts, byProblemStatement, fallback };
}

/** Every task plays its gold patch, optionally wrapped (e.g. t => sequence(garbageScript(2), t)). */
export function goldScriptBook(tasks: readonly Task[], wrap: (gold: Script, task: Task) => Script = (g) => g): ScriptBook {
  return createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: wrap(goldScript(t), t) })));
}

/**
 * Which task a conversation is about, in this order: the X-Swerl-Task header; a `<task id="...">`
 * tag or a `Task: <id>` line in the first user message; the `<issue>` text of core/prompt's
 * instancePrompt (or any registered problem statement) found in the first user message.
 */
export function identifyTask(book: ScriptBook, firstUserMessage: string, header?: string): string | undefined {
  if (header !== undefined && header.trim() !== '') return header.trim();
  const tagged = /<task id="([^"]+)"/.exec(firstUserMessage) ?? /^Task: (\S+)\s*$/m.exec(firstUserMessage);
  if (tagged) return tagged[1]!;
  const issue = /<issue>\n([\s\S]*)\n<\/issue>/.exec(firstUserMessage);
  const direct = issue ? book.byProblemStatement.get(issue[1]!.trim()) : undefined;
  if (direct !== undefined) return direct;
  for (const [statement, id] of book.byProblemStatement) {
    if (firstUserMessage.includes(statement)) return id;
  }
  return undefined;
}
