/**
 * The shape of one toy task as written by hand in specs/: the files of the buggy base commit,
 * the gold fix and the new tests as edits on top of it, and the test ids. generate.ts turns a spec
 * into a git repo, two unified diffs and a JSONL line.
 */

/** Replace exactly one occurrence of `find` (the generator refuses ambiguous or missing text). */
export interface ReplaceEdit {
  file: string;
  find: string;
  replace: string;
}
export interface AppendEdit {
  file: string;
  append: string;
}
/** Whole new content: a new file, or a rewrite of a small one. */
export interface WriteEdit {
  file: string;
  content: string;
}
export type Edit = ReplaceEdit | AppendEdit | WriteEdit;

export interface ToyTaskSpec {
  /** `<repo>-<n>`: the instance id becomes `toy__<name>`, the repo `toy/<repo>`. */
  name: string;
  /** The issue, written like a GitHub issue: symptom, reproduction, expected behaviour. */
  problem: string;
  /** Files at the base commit, tests included. */
  files: Record<string, string>;
  /** The gold patch: source files only. */
  gold: Edit[];
  /** The test patch: test files only. */
  tests: Edit[];
  failToPass: string[];
  passToPass: string[];
}

/** Code block literal: raw (backslashes kept for Python), a leading newline dropped. */
export function py(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = String.raw({ raw: strings.raw }, ...values);
  return text.startsWith('\n') ? text.slice(1) : text;
}

export function applyEdits(files: Record<string, string>, edits: readonly Edit[], taskName: string): Record<string, string> {
  const out = { ...files };
  for (const edit of edits) {
    if ('content' in edit) {
      out[edit.file] = edit.content;
      continue;
    }
    const before = out[edit.file];
    if (before === undefined) throw new Error(`${taskName}: edit of missing file ${edit.file}`);
    if ('append' in edit) {
      out[edit.file] = before + edit.append;
      continue;
    }
    const at = before.indexOf(edit.find);
    if (at < 0) throw new Error(`${taskName}: ${edit.file}: text to replace not found:\n${edit.find}`);
    if (before.indexOf(edit.find, at + 1) >= 0) throw new Error(`${taskName}: ${edit.file}: text to replace is ambiguous:\n${edit.find}`);
    out[edit.file] = before.slice(0, at) + edit.replace + before.slice(at + edit.find.length);
  }
  return out;
}
