/**
 * A unified diff (git or plain) read into files and hunks with their lines, so a gold patch can be
 * replayed through the agent's tools. core/tasks.parsePatch only counts lines; this keeps them.
 */
import { ErrorCodes, TaskError } from '../../core/errors';

export interface HunkLine {
  op: ' ' | '-' | '+';
  text: string;
}

export interface Hunk {
  oldStart: number;
  oldCount: number;
  newStart: number;
  newCount: number;
  lines: HunkLine[];
}

export interface FileDiff {
  oldPath: string | null;
  newPath: string | null;
  binary: boolean;
  hunks: Hunk[];
}

function stripPrefix(p: string): string | null {
  const path = p.split('\t')[0]!.trim();
  if (path === '/dev/null') return null;
  const unquoted = path.startsWith('"') && path.endsWith('"') ? path.slice(1, -1) : path;
  return unquoted.replace(/^[ab]\//, '');
}

/** Throws TaskError(SWERL_TASK_INVALID) naming `label` when a hunk's body disagrees with its header. */
export function parseUnifiedDiff(diff: string, label = 'patch'): FileDiff[] {
  const lines = diff.replace(/\r\n/g, '\n').split('\n');
  const files: FileDiff[] = [];
  let cur: FileDiff | null = null;
  let headerSeen = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const git = /^diff --git a\/(.+?) b\/(.+)$/.exec(line);
    if (git) {
      cur = { oldPath: git[1]!, newPath: git[2]!, binary: false, hunks: [] };
      files.push(cur);
      headerSeen = false;
      continue;
    }
    if (cur && line.startsWith('new file mode')) cur.oldPath = null;
    else if (cur && line.startsWith('deleted file mode')) cur.newPath = null;
    else if (cur && line.startsWith('rename from ')) cur.oldPath = line.slice('rename from '.length);
    else if (cur && line.startsWith('rename to ')) cur.newPath = line.slice('rename to '.length);
    else if (line.startsWith('Binary files') || line === 'GIT binary patch') {
      if (cur) cur.binary = true;
    } else if (line.startsWith('--- ') && lines[i + 1]?.startsWith('+++ ')) {
      const oldPath = stripPrefix(line.slice(4));
      const newPath = stripPrefix(lines[i + 1]!.slice(4));
      if (!cur || headerSeen) {
        cur = { oldPath, newPath, binary: false, hunks: [] };
        files.push(cur);
      } else {
        cur.oldPath = oldPath;
        cur.newPath = newPath;
      }
      headerSeen = true;
      i++;
    } else {
      const m = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(line);
      if (!m || !cur) continue;
      headerSeen = true;
      const hunk: Hunk = {
        oldStart: Number(m[1]),
        oldCount: m[2] === undefined ? 1 : Number(m[2]),
        newStart: Number(m[3]),
        newCount: m[4] === undefined ? 1 : Number(m[4]),
        lines: [],
      };
      let oldLeft = hunk.oldCount;
      let newLeft = hunk.newCount;
      while (oldLeft > 0 || newLeft > 0) {
        if (i + 1 >= lines.length) {
          throw new TaskError(ErrorCodes.TASK_INVALID, `${label}: hunk "${line}" of ${cur.newPath ?? cur.oldPath} ends early`, { label });
        }
        const body = lines[++i]!;
        if (body.startsWith('\\')) continue; // "\ No newline at end of file"
        const op = body === '' ? ' ' : body[0];
        if (op === '+') newLeft--;
        else if (op === '-') oldLeft--;
        else if (op === ' ') {
          oldLeft--;
          newLeft--;
        } else {
          throw new TaskError(ErrorCodes.TASK_INVALID, `${label}: unexpected line ${JSON.stringify(body)} in hunk "${line}"`, { label });
        }
        hunk.lines.push({ op, text: body.slice(1) });
      }
      if (oldLeft < 0 || newLeft < 0) {
        throw new TaskError(ErrorCodes.TASK_INVALID, `${label}: hunk "${line}" has more lines than its header counts`, { label });
      }
      cur.hunks.push(hunk);
    }
  }
  return files;
}
