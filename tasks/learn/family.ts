/**
 * The `learn` task family: one-module repositories whose bug is one stray statement, generated
 * from a seed. It exists for the learning demo (issue #7): a policy small enough to train on two
 * CPU cores can solve a held-out instance only if the instance is solvable by reading the issue,
 * so the issue names the module and the line to delete. What the demo shows is the training loop
 * moving a policy's pass rate (base < RFT < RL on held-out instances), not coding ability.
 *
 *   def scale(x, y):
 *       x = x * 3        <- the stray statement (line N)
 *       return x + y
 *
 * Pure and deterministic: the same seed gives the same instances on every machine.
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

interface Fn {
  name: string;
  args: readonly [string, string];
  /** The return expression `<a> <op> <b>`. */
  op: Op;
  /** The stray `a = a <op> k` of the buggy function. */
  stray?: { op: Op; k: number };
}

export interface LearnInstance {
  /** `<project>-<n>`: the suite's instance id is `learn__<name>`. */
  name: string;
  /** The project (repository) name; the module is always app.py. */
  module: string;
  /** File path relative to the repo root. */
  file: string;
  /** 1-based line of the stray statement: the line the gold fix deletes. */
  line: number;
  /** The buggy module's source. */
  source: string;
  spec: ToyTaskSpec;
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.nextInt(items.length)]!;

function apply(op: Op, x: number, y: number): number {
  return op === '+' ? x + y : op === '-' ? x - y : x * y;
}

function render(fns: readonly Fn[], withStray: boolean): string {
  const blocks = fns.map((f) => {
    const [a, b] = f.args;
    const lines = [`def ${f.name}(${a}, ${b}):`];
    if (f.stray && withStray) lines.push(`    ${a} = ${a} ${f.stray.op} ${f.stray.k}`);
    lines.push(`    return ${a} ${f.op} ${b}`);
    return lines.join('\n');
  });
  return blocks.join('\n\n\n') + '\n';
}

function testOf(module: string, f: Fn, x: number, y: number): string {
  return `def test_${f.name}():\n    assert ${module}.${f.name}(${x}, ${y}) == ${apply(f.op, x, y)}\n`;
}

/** The `index`-th instance of the family for `seed` (the module name carries no index). */
export function learnInstance(seed: number, index: number): LearnInstance {
  const rng = createRng((seed * 7919 + index * 104729) >>> 0);
  const module = pick(rng, MODULES);
  const names: string[] = [];
  while (names.length < 3) {
    const n = pick(rng, FUNCTIONS);
    if (!names.includes(n)) names.push(n);
  }
  const bug = rng.nextInt(3);
  const fns: Fn[] = names.map((name, i) => ({
    name,
    args: pick(rng, ARGS),
    op: pick(rng, OPS),
    ...(i === bug ? { stray: { op: pick(rng, OPS), k: 2 + rng.nextInt(8) } } : {}),
  }));
  // Test inputs where the stray statement changes the result: x ≠ 0, and x op k ≠ x.
  const inputs = fns.map(() => [3 + rng.nextInt(7), 2 + rng.nextInt(6)] as const);
  const source = render(fns, true);
  const line = source.split('\n').findIndex((l) => /^ {4}\w+ = /.test(l)) + 1;
  // One module name for every repo: the measured 0.24M-parameter base did not learn to copy a
  // module name from the issue in 600 pre-training steps (10% on held-out tasks), so the file is
  // fixed and the line number is what the policy must read.
  const file = 'app.py';
  const buggy = fns[bug]!;
  const testFile = 'tests/test_app.py';
  const header = 'import app\n\n\n';
  const others = fns.map((f, i) => (i === bug ? '' : testOf('app', f, ...inputs[i]!))).filter(Boolean);
  const spec: ToyTaskSpec = {
    name: `${module}-${index}`,
    // Location first, like a traceback-style title: a policy this small finds it at a fixed offset.
    problem: `${file} line ${line}: ${buggy.name}() returns the wrong value\n\nThe statement on line ${line} of ${file} must be deleted.\n`,
    files: { [file]: source, [testFile]: header + others.join('\n\n') },
    gold: [{ file, content: render(fns, false) }],
    tests: [{ file: testFile, append: '\n\n' + testOf('app', buggy, ...inputs[bug]!) }],
    failToPass: [`${testFile}::test_${buggy.name}`],
    passToPass: fns.filter((_, i) => i !== bug).map((f) => `${testFile}::test_${f.name}`),
  };
  return { name: spec.name, module, file, line, source, spec };
}
