/**
 * The `learn` task family: one-module repositories whose bug is one stray statement, generated
 * from a seed. It exists for the learning demo (issues #7, #16): a policy small enough to train on
 * two CPU cores must be able to solve an instance, and only by reading the issue. So the issue
 * names the line to delete, and nothing else gives it away:
 *
 *   - the module has 4-6 functions, each with one or two legitimate statements of the same shape as the
 *     stray one (`a = a * 3`), each covered by a test, so the file alone does not show the bug;
 *   - the stray line is anywhere from line 2 to ~30, and within each split no line number is the
 *     fix of more than 5% of the tasks (`MAX_SHARE`): every constant action sequence scores ≤ 5%;
 *   - the issue also names the line the function starts on and the values of the failing call
 *     (distractors: copying the wrong number deletes a `def` line, which the edit tool rejects).
 *
 *   1: def scale(x, y):
 *   2:     x = x * 3        <- legitimate (tested)
 *   3:     y = y - 2        <- the stray statement: the issue says "line 3 must be deleted"
 *   4:     return x + y
 *
 * Exactly one single-line deletion passes an instance's tests (the stray one): the generator
 * rejects test inputs for which deleting any other statement would leave a test passing, and
 * test/unit/learnSuite.test.ts checks it with Python on every task. Pure and deterministic: the
 * same seed gives the same instances on every machine.
 */
import { createRng, type Rng } from '../../core/rl/sampling';
import type { ToyTaskSpec } from '../toy/spec';

export const MODULES = [
  'prices', 'scores', 'shapes', 'timing', 'ledger', 'grades', 'metrics', 'stock', 'orders', 'rates',
  'units', 'bills', 'votes', 'miles', 'temps', 'loans', 'stats', 'cards', 'boxes', 'tiles',
] as const;
export const FUNCTIONS = [
  'total', 'scale', 'area', 'offset', 'ratio', 'margin', 'bonus', 'limit', 'delta', 'share',
  'width', 'double', 'half', 'shift', 'gain', 'cost', 'score', 'span', 'rate', 'mix',
] as const;
const ARGS: ReadonlyArray<readonly [string, string]> = [
  ['a', 'b'], ['x', 'y'], ['n', 'm'], ['p', 'q'], ['low', 'high'], ['base', 'step'], ['price', 'qty'], ['w', 'h'],
];
const OPS = ['+', '-', '*'] as const;
type Op = (typeof OPS)[number];

/** The file every instance's bug is in (a policy this small reads the line, not the file). */
export const LEARN_FILE = 'app.py';
const TEST_FILE = 'tests/test_app.py';

/** `<arg> = <arg> <op> <k>`: a legitimate statement, or the stray one. */
interface Statement {
  arg: 0 | 1;
  op: Op;
  k: number;
}

interface Fn {
  name: string;
  args: readonly [string, string];
  /** Legitimate statements before the return. */
  body: Statement[];
  /** The return expression `<a> <op> <b>`. */
  op: Op;
  /** The buggy function's stray statement, inserted before body[at]. */
  stray?: { stmt: Statement; at: number };
  /** The test's inputs. */
  input: readonly [number, number];
}

export interface LearnInstance {
  /** `<project>-<n>`: the suite's instance id is `learn__<name>`. */
  name: string;
  /** The project (repository) name. */
  module: string;
  /** File path relative to the repo root (always LEARN_FILE). */
  file: string;
  /** 1-based line of the stray statement: the line the gold fix deletes. */
  line: number;
  /** 1-based line of the buggy function's `def` (a number the issue also states). */
  defLine: number;
  /** The buggy module's source. */
  source: string;
  spec: ToyTaskSpec;
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.nextInt(items.length)]!;

function apply(op: Op, x: number, y: number): number {
  return op === '+' ? x + y : op === '-' ? x - y : x * y;
}

function drawStatement(rng: Rng): Statement {
  return { arg: rng.nextInt(2) as 0 | 1, op: pick(rng, OPS), k: 2 + rng.nextInt(8) };
}

/** The statements of `f` in source order, the stray one included when present. */
function statements(f: Fn): Array<Statement & { stray: boolean }> {
  const out = f.body.map((s) => ({ ...s, stray: false }));
  if (f.stray) out.splice(f.stray.at, 0, { ...f.stray.stmt, stray: true });
  return out;
}

/** What `f(input)` returns when running `stmts` (Python integer semantics: no overflow here). */
function evaluate(f: Fn, stmts: readonly Statement[]): number {
  const v = [...f.input];
  for (const s of stmts) v[s.arg] = apply(s.op, v[s.arg]!, s.k);
  return apply(f.op, v[0]!, v[1]!);
}

/**
 * The expected value (without the stray statement), and whether the test tells apart every
 * single-statement deletion from the fixed function: the stray one present, or any one of the
 * legitimate ones missing, must change the result.
 */
function discriminates(f: Fn): boolean {
  const all = statements(f);
  const expected = evaluate(f, f.body);
  if (f.stray && evaluate(f, all) === expected) return false;
  return all.every((s, i) => (evaluate(f, all.filter((_, j) => j !== i)) === expected) === s.stray);
}

function statementLine(f: Fn, s: Statement): string {
  const a = f.args[s.arg];
  return `    ${a} = ${a} ${s.op} ${s.k}`;
}

function renderFn(f: Fn, withStray: boolean): string[] {
  const [a, b] = f.args;
  const body = withStray ? statements(f) : f.body;
  return [`def ${f.name}(${a}, ${b}):`, ...body.map((s) => statementLine(f, s)), `    return ${a} ${f.op} ${b}`];
}

function render(fns: readonly Fn[], withStray: boolean): string {
  return fns.map((f) => renderFn(f, withStray).join('\n')).join('\n\n') + '\n';
}

function testOf(f: Fn): string {
  const expected = evaluate(f, f.body);
  return `def test_${f.name}():\n    assert app.${f.name}(${f.input[0]}, ${f.input[1]}) == ${expected}\n`;
}

/** Draws a function whose test discriminates (bounded: inputs, then statements, are redrawn). */
function drawFn(rng: Rng, name: string, buggy: boolean): Fn {
  for (let attempt = 0; attempt < 200; attempt++) {
    const body = Array.from({ length: 1 + rng.nextInt(2) }, () => drawStatement(rng));
    const f: Fn = {
      name,
      args: pick(rng, ARGS),
      body,
      op: pick(rng, OPS),
      ...(buggy ? { stray: { stmt: drawStatement(rng), at: rng.nextInt(body.length + 1) } } : {}),
      input: [3 + rng.nextInt(7), 2 + rng.nextInt(6)],
    };
    if (discriminates(f)) return f;
  }
  throw new Error(`no discriminating test for ${name} in 200 draws`);
}

/** The `index`-th instance of the family for `seed`. */
export function learnInstance(seed: number, index: number): LearnInstance {
  const rng = createRng((seed * 7919 + index * 104729) >>> 0);
  const module = pick(rng, MODULES);
  const count = 4 + rng.nextInt(3);
  const names: string[] = [];
  while (names.length < count) {
    const n = pick(rng, FUNCTIONS);
    if (!names.includes(n)) names.push(n);
  }
  const bug = rng.nextInt(count);
  const fns = names.map((name, i) => drawFn(rng, name, i === bug));
  const source = render(fns, true);
  const buggy = fns[bug]!;
  const before = fns.slice(0, bug).reduce((n, f) => n + renderFn(f, true).length + 1, 0);
  const defLine = before + 1;
  const line = defLine + 1 + buggy.stray!.at;
  const file = LEARN_FILE;
  const header = 'import app\n\n\n';
  const others = fns.filter((_, i) => i !== bug).map(testOf);
  const bad = evaluate(buggy, statements(buggy));
  const good = evaluate(buggy, buggy.body);
  const spec: ToyTaskSpec = {
    name: `${module}-${index}`,
    // The line first, like a traceback's title: a policy this small finds it at a fixed offset.
    // The rest is what a reporter would add, and every number in it is a wrong line to delete.
    problem:
      `${file} line ${line}: ${buggy.name}() returns the wrong value\n\n` +
      `${buggy.name}(${buggy.input[0]}, ${buggy.input[1]}) returns ${bad} instead of ${good}. ` +
      `${buggy.name}() starts on line ${defLine}; the statement on line ${line} must be deleted.\n`,
    files: { [file]: source, [TEST_FILE]: header + others.join('\n\n') },
    gold: [{ file, content: render(fns, false) }],
    tests: [{ file: TEST_FILE, append: '\n\n' + testOf(buggy) }],
    failToPass: [`${TEST_FILE}::test_${buggy.name}`],
    passToPass: fns.filter((_, i) => i !== bug).map((f) => `${TEST_FILE}::test_${f.name}`),
  };
  return { name: spec.name, module, file, line, defLine, source, spec };
}
