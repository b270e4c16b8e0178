/** Toy tasks about numbers: off-by-one, wrong operator, missing table entry. (continued) */
import { py, type ToyTaskSpec } from '../spec';

export const numberSpecs2: ToyTaskSpec[] = [
  {
    name: 'matrix-1',
    problem: `
transpose() fails on non-square matrices

\`\`\`python
>>> from matrix import transpose
>>> transpose([[1, 2, 3], [4, 5, 6]])
[[1, 4], [2, 5]]
\`\`\`

The third column is lost (and a 3x2 input raises IndexError). Expected \`[[1, 4], [2, 5], [3, 6]]\`.
`,
    files: {
      'matrix/__init__.py': py`
from .ops import transpose, multiply

__all__ = ["transpose", "multiply"]
`,
      'matrix/ops.py': py`
def transpose(m):
    return [[m[i][j] for i in range(len(m))] for j in range(len(m))]


def multiply(a, b):
    if len(a[0]) != len(b):
        raise ValueError("shape mismatch")
    return [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))] for i in range(len(a))]
`,
      'tests/test_ops.py': py`
from matrix import transpose, multiply


def test_transpose_square():
    assert transpose([[1, 2], [3, 4]]) == [[1, 3], [2, 4]]


def test_multiply():
    assert multiply([[1, 2], [3, 4]], [[5], [6]]) == [[17], [39]]
`,
    },
    gold: [{ file: 'matrix/ops.py', find: 'for j in range(len(m))]\n', replace: 'for j in range(len(m[0]))] if m else []\n' }],
    tests: [{ file: 'tests/test_ops.py', append: py`


def test_transpose_wide():
    assert transpose([[1, 2, 3], [4, 5, 6]]) == [[1, 4], [2, 5], [3, 6]]


def test_transpose_tall():
    assert transpose([[1], [2], [3]]) == [[1, 2, 3]]
` }],
    failToPass: ['tests/test_ops.py::test_transpose_wide', 'tests/test_ops.py::test_transpose_tall'],
    passToPass: ['tests/test_ops.py::test_transpose_square', 'tests/test_ops.py::test_multiply'],
  },
  {
    name: 'money-1',
    problem: `
format_money puts the minus sign after the currency symbol

\`\`\`python
>>> from money import format_money
>>> format_money(-5)
'$-5.00'
\`\`\`

Our accounting export expects \`'-$5.00'\` (and \`'-$1,234.50'\` for -1234.5). Positive amounts are
formatted correctly.
`,
    files: {
      'money/__init__.py': py`
from .fmt import format_money

__all__ = ["format_money"]
`,
      'money/fmt.py': py`
def format_money(amount, symbol="$"):
    """Format amount with two decimals and thousands separators."""
    return f"{symbol}{amount:,.2f}"
`,
      'tests/test_fmt.py': py`
from money import format_money


def test_positive():
    assert format_money(5) == "$5.00"


def test_thousands():
    assert format_money(1234567.891) == "$1,234,567.89"


def test_symbol():
    assert format_money(3, symbol="€") == "€3.00"
`,
    },
    gold: [{ file: 'money/fmt.py', find: '    return f"{symbol}{amount:,.2f}"\n', replace: '    sign = "-" if amount < 0 else ""\n    return f"{sign}{symbol}{abs(amount):,.2f}"\n' }],
    tests: [{ file: 'tests/test_fmt.py', append: py`


def test_negative():
    assert format_money(-5) == "-$5.00"
    assert format_money(-1234.5) == "-$1,234.50"
` }],
    failToPass: ['tests/test_fmt.py::test_negative'],
    passToPass: ['tests/test_fmt.py::test_positive', 'tests/test_fmt.py::test_thousands', 'tests/test_fmt.py::test_symbol'],
  },
  {
    name: 'backoff-1',
    problem: `
Retry delays ignore max_delay

\`backoff.delays(base=1, factor=2, max_delay=30)\` is documented to cap each delay at \`max_delay\`,
but the cap is never applied:

\`\`\`python
>>> from backoff import delays
>>> list(delays(attempts=7, base=1, factor=2, max_delay=30))
[1, 2, 4, 8, 16, 32, 64]
\`\`\`

Expected \`[1, 2, 4, 8, 16, 30, 30]\`. Our workers end up sleeping for hours after a long outage.
`,
    files: {
      'backoff/__init__.py': py`
from .policy import delays

__all__ = ["delays"]
`,
      'backoff/policy.py': py`
def delays(attempts, base=1, factor=2, max_delay=60):
    """Yield the delay before each retry: base * factor**i, capped at max_delay."""
    for i in range(attempts):
        yield base * factor**i
`,
      'tests/test_policy.py': py`
from backoff import delays


def test_first_delays():
    assert list(delays(4)) == [1, 2, 4, 8]


def test_custom_base():
    assert list(delays(3, base=5, factor=3)) == [5, 15, 45]
`,
    },
    gold: [{ file: 'backoff/policy.py', find: 'yield base * factor**i', replace: 'yield min(base * factor**i, max_delay)' }],
    tests: [{ file: 'tests/test_policy.py', append: py`


def test_cap():
    assert list(delays(7, base=1, factor=2, max_delay=30)) == [1, 2, 4, 8, 16, 30, 30]
` }],
    failToPass: ['tests/test_policy.py::test_cap'],
    passToPass: ['tests/test_policy.py::test_first_delays', 'tests/test_policy.py::test_custom_base'],
  },
  {
    name: 'intervals-1',
    problem: `
merge() does not merge intervals that touch

\`\`\`python
>>> from intervals import merge
>>> merge([(1, 3), (3, 5)])
[(1, 3), (3, 5)]
\`\`\`

Closed intervals that share an endpoint overlap, so this should be \`[(1, 5)]\`. Properly
overlapping intervals merge fine.
`,
    files: {
      'intervals/__init__.py': py`
from .merge import merge, total_length

__all__ = ["merge", "total_length"]
`,
      'intervals/merge.py': py`
def merge(intervals):
    """Merge overlapping closed intervals; returns sorted, disjoint intervals."""
    out = []
    for start, end in sorted(intervals):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def total_length(intervals):
    return sum(end - start for start, end in merge(intervals))
`,
      'tests/test_merge.py': py`
from intervals import merge, total_length


def test_overlapping():
    assert merge([(5, 8), (1, 4), (2, 6)]) == [(1, 8)]


def test_disjoint():
    assert merge([(4, 5), (1, 2)]) == [(1, 2), (4, 5)]


def test_total_length():
    assert total_length([(0, 2), (1, 4)]) == 4
`,
    },
    gold: [{ file: 'intervals/merge.py', find: 'if out and start < out[-1][1]:', replace: 'if out and start <= out[-1][1]:' }],
    tests: [{ file: 'tests/test_merge.py', append: py`


def test_touching():
    assert merge([(1, 3), (3, 5)]) == [(1, 5)]
` }],
    failToPass: ['tests/test_merge.py::test_touching'],
    passToPass: ['tests/test_merge.py::test_overlapping', 'tests/test_merge.py::test_disjoint', 'tests/test_merge.py::test_total_length'],
  },
];
