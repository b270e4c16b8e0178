/**
 * Tasks in SWE-bench / SWE-rebench JSONL form, and the pure pieces the reward and the importer
 * share: the line schema, unified-diff statistics (the paper's filters: files touched, changed
 * lines), test-path detection, and a parser for pytest's JUnit XML. No I/O here.
 */
import { z } from 'zod';
import { ErrorCodes, TaskError } from './errors';

// ---------------------------------------------------------------------------------------------
// Task line schema
// ---------------------------------------------------------------------------------------------

/** SWE-bench ships FAIL_TO_PASS / PASS_TO_PASS as JSON-encoded strings; SWE-rebench as arrays. */
const nodeIdList = z.union([
  z.array(z.string().min(1)),
  z.string().transform((text, ctx): string[] => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not a JSON array of test ids' });
      return z.NEVER;
    }
    if (!Array.isArray(parsed) || !parsed.every((x): x is string => typeof x === 'string' && x.length > 0)) {
      ctx.addIssue({ code: 'custom', message: 'must encode an array of non-empty strings' });
      return z.NEVER;
    }
    return parsed;
  }),
]);

/** One JSONL line. Unknown fields (SWE-rebench carries many) are allowed and ignored. */
export const TaskLineSchema = z.looseObject({
  instance_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash, underscore'),
  repo: z.string().min(1),
  base_commit: z.string().regex(/^[0-9a-f]{7,40}$/, 'a hex commit id'),
  problem_statement: z.string().min(1),
  patch: z.string().min(1),
  test_patch: z.string(),
  FAIL_TO_PASS: nodeIdList.refine((ids) => ids.length > 0, 'at least one test must fail before the gold patch'),
  PASS_TO_PASS: nodeIdList,
  version: z.union([z.string(), z.number()]).transform(String).optional(),
  environment_setup_commit: z.string().optional(),
  hints_text: z.string().optional(),
  created_at: z.string().optional(),
  repo_path: z.string().min(1).optional().describe('local git dir or .tar/.tar.gz of one, relative to the JSONL file'),
  split: z.enum(['train', 'eval', 'validation', 'test']).default('train').describe("train: what RFT and RL sample; the rest are held out (eval, or validation for gates and choices and test for reports)"),
  setup: z.string().optional().describe('shell run once at image build time to install deps offline'),
});
export type TaskLine = z.infer<typeof TaskLineSchema>;

export type TaskSplit = TaskLine['split'];

/** The task as the rest of swerl sees it. repoPath is as written in the JSONL (the importer resolves it). */
export interface Task {
  instanceId: string;
  repo: string;
  baseCommit: string;
  problemStatement: string;
  goldPatch: string;
  testPatch: string;
  failToPass: string[];
  passToPass: string[];
  version?: string;
  environmentSetupCommit?: string;
  repoPath?: string;
  split: TaskSplit;
  setup?: string;
  hintsText?: string;
  createdAt?: string;
  /**
   * Fields of the line this schema does not read (SWE-rebench / SWE-Gym: install_config, image,
   * requirements, environment, …), verbatim: an environment builder may honour them.
   */
  extra?: Record<string, unknown>;
  /** The JSONL line as read: the 12 SWE-bench fields byte for byte, whatever swerl parses out of them. */
  sourceLine?: string;
}

/** The 12 fields of a SWE-bench instance, in the dataset's order. */
export const SWE_BENCH_FIELDS = [
  'repo', 'instance_id', 'base_commit', 'patch', 'test_patch', 'problem_statement', 'hints_text', 'created_at',
  'version', 'FAIL_TO_PASS', 'PASS_TO_PASS', 'environment_setup_commit',
] as const;
/** Fields swerl adds to the SWE-bench form (see TaskLineSchema). */
const SWERL_FIELDS = ['repo_path', 'split', 'setup'] as const;
const KNOWN_FIELDS: ReadonlySet<string> = new Set<string>([...SWE_BENCH_FIELDS, ...SWERL_FIELDS]);

/**
 * Parses one JSONL line. Throws TaskError(SWERL_TASK_INVALID) naming the line (and the instance
 * when it can be read) and every violated field.
 */
export function parseTaskLine(line: string, lineNo: number): Task {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    throw new TaskError(ErrorCodes.TASK_INVALID, `line ${lineNo}: not valid JSON (${(err as Error).message})`, { line: lineNo });
  }
  const result = TaskLineSchema.safeParse(raw);
  if (!result.success) {
    const id = typeof (raw as { instance_id?: unknown })?.instance_id === 'string' ? (raw as { instance_id: string }).instance_id : undefined;
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new TaskError(
      ErrorCodes.TASK_INVALID,
      `line ${lineNo}${id ? ` (${id})` : ''}: ${problems.join('; ')}`,
      { line: lineNo, instanceId: id, problems },
    );
  }
  const t = result.data;
  const overlap = t.FAIL_TO_PASS.filter((id) => t.PASS_TO_PASS.includes(id));
  if (overlap.length > 0) {
    throw new TaskError(ErrorCodes.TASK_INVALID, `line ${lineNo} (${t.instance_id}): tests listed in both FAIL_TO_PASS and PASS_TO_PASS: ${overlap.join(', ')}`,
      { line: lineNo, instanceId: t.instance_id, overlap });
  }
  return {
    instanceId: t.instance_id,
    repo: t.repo,
    baseCommit: t.base_commit,
    problemStatement: t.problem_statement,
    goldPatch: t.patch,
    testPatch: t.test_patch,
    failToPass: t.FAIL_TO_PASS,
    passToPass: t.PASS_TO_PASS,
    version: t.version,
    environmentSetupCommit: t.environment_setup_commit,
    repoPath: t.repo_path,
    split: t.split,
    setup: t.setup,
    hintsText: t.hints_text,
    createdAt: t.created_at,
    extra: Object.fromEntries(Object.entries(raw as Record<string, unknown>).filter(([k]) => !KNOWN_FIELDS.has(k))),
    sourceLine: line,
  };
}

// ---------------------------------------------------------------------------------------------
// Unified diffs
// ---------------------------------------------------------------------------------------------

export interface PatchFile {
  /** Path after the change (before it, for a deletion), without the a/ b/ prefix. */
  path: string;
  oldPath: string | null;
  newPath: string | null;
  added: number;
  removed: number;
  binary: boolean;
}

export interface PatchStats {
  files: PatchFile[];
  filesChanged: number;
  added: number;
  removed: number;
  /** added + removed: what the paper's "< 500 changed lines" filter counts. */
  changedLines: number;
}

function stripPrefix(p: string): string | null {
  const path = p.split('\t')[0]!.trim();
  if (path === '/dev/null') return null;
  const unquoted = path.startsWith('"') && path.endsWith('"') ? path.slice(1, -1) : path;
  return unquoted.replace(/^[ab]\//, '');
}

/**
 * Reads a unified diff (git or plain). Hunk bodies are consumed by their header counts, so a
 * removed line that itself starts with "--" is not mistaken for a file header.
 */
export function parsePatch(diff: string): PatchStats {
  const lines = diff.split('\n');
  const files: PatchFile[] = [];
  let cur: PatchFile | null = null;
  let awaitingHunks = false;
  const open = (oldPath: string | null, newPath: string | null): PatchFile => {
    const f: PatchFile = { path: (newPath ?? oldPath) ?? '', oldPath, newPath, added: 0, removed: 0, binary: false };
    files.push(f);
    return f;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const git = /^diff --git a\/(.+?) b\/(.+)$/.exec(line);
    if (git) {
      cur = open(git[1]!, git[2]!);
      awaitingHunks = true;
      continue;
    }
    if (line.startsWith('new file mode') && cur) cur.oldPath = null;
    else if (line.startsWith('deleted file mode') && cur) {
      cur.newPath = null;
      cur.path = cur.oldPath ?? cur.path;
    } else if (line.startsWith('Binary files') || line === 'GIT binary patch') {
      if (cur) cur.binary = true;
    } else if (line.startsWith('--- ') && lines[i + 1]?.startsWith('+++ ')) {
      const oldPath = stripPrefix(line.slice(4));
      const newPath = stripPrefix(lines[i + 1]!.slice(4));
      // A git diff names the file in its "diff --git" header first; a plain diff starts here.
      if (!cur || !awaitingHunks) cur = open(oldPath, newPath);
      cur.oldPath = oldPath;
      cur.newPath = newPath;
      cur.path = (newPath ?? oldPath) ?? cur.path;
      awaitingHunks = true;
      i++;
    } else {
      const hunk = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/.exec(line);
      if (hunk && cur) {
        awaitingHunks = false;
        let oldLeft = hunk[1] === undefined ? 1 : Number(hunk[1]);
        let newLeft = hunk[2] === undefined ? 1 : Number(hunk[2]);
        while ((oldLeft > 0 || newLeft > 0) && i + 1 < lines.length) {
          const body = lines[++i]!;
          if (body.startsWith('\\')) continue; // "\ No newline at end of file"
          if (body.startsWith('+')) {
            cur.added++;
            newLeft--;
          } else if (body.startsWith('-')) {
            cur.removed++;
            oldLeft--;
          } else {
            oldLeft--;
            newLeft--;
          }
        }
      }
    }
  }
  const added = files.reduce((n, f) => n + f.added, 0);
  const removed = files.reduce((n, f) => n + f.removed, 0);
  return { files, filesChanged: files.length, added, removed, changedLines: added + removed };
}

const TEST_DIRS = new Set(['test', 'tests', 'testing', 'e2e']);

/** True for paths that are tests by the usual Python conventions (the files test_patch may touch). */
export function isTestPath(path: string): boolean {
  const parts = path.replace(/\\/g, '/').split('/').filter(Boolean);
  const base = parts.at(-1) ?? '';
  if (parts.slice(0, -1).some((p) => TEST_DIRS.has(p.toLowerCase()))) return true;
  return /^test_.*\.py$/.test(base) || /_tests?\.py$/.test(base) || base === 'tests.py' || base === 'conftest.py';
}

// ---------------------------------------------------------------------------------------------
// pytest JUnit XML
// ---------------------------------------------------------------------------------------------

export type TestOutcome = 'passed' | 'failed' | 'error' | 'skipped';

export interface TestResult {
  nodeid: string;
  outcome: TestOutcome;
  durationSec: number;
}

export interface JUnitCase extends TestResult {
  classname: string;
  name: string;
}

/**
 * The (classname, name) pytest's junitxml writes for a node id: the file path without ".py" with
 * "/" turned into ".", then any classes, joined by "."; the name is the function with its
 * parameter id. `tests/test_x.py::TestA::test_b[1-2]` → (`tests.test_x.TestA`, `test_b[1-2]`).
 */
export function junitKeyOfNodeId(nodeid: string): { classname: string; name: string } {
  const bracket = nodeid.indexOf('[');
  const head = bracket >= 0 ? nodeid.slice(0, bracket) : nodeid;
  const params = bracket >= 0 ? nodeid.slice(bracket) : '';
  const parts = head.split('::');
  const file = parts[0]!.replace(/\\/g, '/').replace(/\.py$/, '').split('/').filter(Boolean).join('.');
  const name = (parts.length > 1 ? parts.at(-1)! : '') + params;
  const classes = parts.slice(1, -1);
  return { classname: [file, ...classes].join('.'), name };
}

/**
 * The test files to hand pytest for a set of node ids. Running files rather than node ids keeps
 * one module that fails to import from aborting the whole run ("found no collectors"): with
 * --continue-on-collection-errors the other files still report, and results are then filtered
 * to the listed ids (what the SWE-bench harness does as well).
 */
export function testFilesOf(nodeids: readonly string[]): string[] {
  return [...new Set(nodeids.map((id) => id.split('::')[0]!))].sort();
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (whole, ent: string) => {
    if (ent.startsWith('#x')) return String.fromCodePoint(parseInt(ent.slice(2), 16));
    if (ent.startsWith('#')) return String.fromCodePoint(parseInt(ent.slice(1), 10));
    return ENTITIES[ent] ?? whole;
  });
}

function parseAttributes(text: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const m of text.matchAll(/([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    attrs[m[1]!] = decodeEntities(m[2] ?? m[3] ?? '');
  }
  return attrs;
}

/** Worse outcome wins when pytest reports one test twice (e.g. passed call, errored teardown). */
const SEVERITY: Record<TestOutcome, number> = { passed: 0, skipped: 1, failed: 2, error: 3 };

/**
 * Parses pytest's JUnit XML (xunit1 or xunit2). An outcome comes from the <failure>, <error> or
 * <skipped> children of a <testcase> (the worst wins); none means passed, and so does an xfail
 * (`<skipped type="pytest.xfail">`), as in SWE-bench's grading. When `expected` node ids are
 * given, each case is named by the expected id it maps to; otherwise by `classname::name`.
 * Throws a plain Error on markup that is not a JUnit report, so a truncated file is never
 * mistaken for "no tests ran".
 */
export function parseJUnitXml(xml: string, expected: readonly string[] = []): JUnitCase[] {
  const byKey = new Map<string, string>();
  for (const id of expected) {
    const k = junitKeyOfNodeId(id);
    byKey.set(`${k.classname}\u0000${k.name}`, id);
  }
  const body = xml.replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '').replace(/<!--[\s\S]*?-->/g, '').replace(/<\?[\s\S]*?\?>/g, '');
  const tag = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g;
  const stack: string[] = [];
  const cases = new Map<string, JUnitCase>();
  let current: JUnitCase | null = null;
  let sawRoot = false;
  for (const m of body.matchAll(tag)) {
    const [, closing, name, attrText, selfClosing] = m as unknown as [string, string, string, string, string];
    if (closing) {
      if (stack.pop() !== name) throw new Error(`junit xml: unbalanced </${name}>`);
      if (name === 'testcase') current = null;
      continue;
    }
    if (name === 'testsuites' || name === 'testsuite') sawRoot = true;
    if (name === 'testcase') {
      const a = parseAttributes(attrText);
      const classname = a.classname ?? '';
      const caseName = a.name ?? '';
      const key = `${classname}\u0000${caseName}`;
      const nodeid = byKey.get(key) ?? (classname ? `${classname}::${caseName}` : caseName);
      const durationSec = Number(a.time ?? '0');
      const prev = cases.get(key);
      current = { nodeid, classname, name: caseName, outcome: prev?.outcome ?? 'passed',
        durationSec: (prev?.durationSec ?? 0) + (Number.isFinite(durationSec) ? durationSec : 0) };
      cases.set(key, current);
    } else if (current && stack.at(-1) === 'testcase') {
      // An expected failure (xfail) counts as passing, as in SWE-bench's grading.
      const xfail = name === 'skipped' && parseAttributes(attrText).type === 'pytest.xfail';
      const outcome: TestOutcome | undefined =
        name === 'failure' ? 'failed' : name === 'error' ? 'error' : name === 'skipped' && !xfail ? 'skipped' : undefined;
      if (outcome && SEVERITY[outcome] > SEVERITY[current.outcome]) current.outcome = outcome;
    }
    if (!selfClosing) stack.push(name);
    else if (name === 'testcase') current = null;
  }
  if (!sawRoot) throw new Error('junit xml: no <testsuite> or <testsuites> element');
  if (stack.length > 0) throw new Error(`junit xml: unclosed <${stack.at(-1)}> (truncated report?)`);
  return [...cases.values()];
}
