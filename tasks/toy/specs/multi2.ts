/** More multi-module toy tasks: helper + fix, option threaded through layers, field rename. */
import { py, type ToyTaskSpec } from '../spec';

export const multiSpecs2: ToyTaskSpec[] = [
  {
    name: 'matrix-2',
    problem: `
power(m, 0) returns m instead of the identity matrix

\`\`\`python
>>> from linalg.ops import power
>>> power([[2, 0], [0, 2]], 0)
[[2, 0], [0, 2]]
\`\`\`

Any square matrix to the power 0 is the identity, so this should be \`[[1, 0], [0, 1]]\`. There is
no \`identity(n)\` constructor in \`linalg.construct\` yet either; it would be the natural thing for
\`power\` to start from. Negative exponents should raise ValueError.
`,
    files: {
      'linalg/__init__.py': '',
      'linalg/construct.py': py`
def zeros(rows, cols):
    return [[0] * cols for _ in range(rows)]
`,
      'linalg/ops.py': py`
def matmul(a, b):
    return [[sum(x * y for x, y in zip(row, col)) for col in zip(*b)] for row in a]


def power(m, k):
    """m multiplied by itself k times (k >= 0)."""
    result = m
    for _ in range(k - 1):
        result = matmul(result, m)
    return result
`,
      'tests/test_ops.py': py`
from linalg.construct import zeros
from linalg.ops import matmul, power


def test_zeros():
    assert zeros(2, 3) == [[0, 0, 0], [0, 0, 0]]


def test_matmul():
    assert matmul([[1, 2], [3, 4]], [[0, 1], [1, 0]]) == [[2, 1], [4, 3]]


def test_power_three():
    assert power([[1, 1], [0, 1]], 3) == [[1, 3], [0, 1]]
`,
    },
    gold: [
      { file: 'linalg/construct.py', append: py`


def identity(n):
    return [[1 if i == j else 0 for j in range(n)] for i in range(n)]
` },
      { file: 'linalg/ops.py', find: py`
    result = m
    for _ in range(k - 1):
        result = matmul(result, m)
    return result
`, replace: py`
    if k < 0:
        raise ValueError("negative exponent")
    result = identity(len(m))
    for _ in range(k):
        result = matmul(result, m)
    return result
` },
      { file: 'linalg/ops.py', find: 'def matmul(a, b):', replace: 'from .construct import identity\n\n\ndef matmul(a, b):' },
    ],
    tests: [{ file: 'tests/test_ops.py', append: py`


def test_identity():
    from linalg.construct import identity

    assert identity(3) == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_power_zero():
    assert power([[2, 0], [0, 2]], 0) == [[1, 0], [0, 1]]


def test_power_negative():
    import pytest

    with pytest.raises(ValueError):
        power([[1]], -1)
` }],
    failToPass: ['tests/test_ops.py::test_identity', 'tests/test_ops.py::test_power_zero', 'tests/test_ops.py::test_power_negative'],
    passToPass: ['tests/test_ops.py::test_zeros', 'tests/test_ops.py::test_matmul', 'tests/test_ops.py::test_power_three'],
  },
  {
    name: 'memo-1',
    problem: `
@memoize(ttl=...) never expires entries

The \`ttl\` argument of the \`memoize\` decorator is accepted but ignored: results are cached
forever.

\`\`\`python
from memo.decorators import memoize

clock = FakeClock()

@memoize(ttl=10, clock=clock)
def lookup(x):
    ...

lookup(1)        # computed
clock.now = 11
lookup(1)        # expected: computed again, got: cached value
\`\`\`

\`TTLCache\` in \`memo/cache.py\` supports a ttl, but \`memoize\` never passes it on (it builds the
cache with its default, which is "no expiry").
`,
    files: {
      'memo/__init__.py': '',
      'memo/cache.py': py`
import time

_MISSING = object()


class TTLCache:
    """A dict whose entries expire ttl seconds after they were set (ttl=None: never)."""

    def __init__(self, ttl=None, clock=time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._data = {}

    def get(self, key, default=_MISSING):
        if key in self._data:
            value, stamp = self._data[key]
            if self.ttl is None or self.clock() - stamp < self.ttl:
                return value
            del self._data[key]
        if default is _MISSING:
            raise KeyError(key)
        return default

    def set(self, key, value):
        self._data[key] = (value, self.clock())
`,
      'memo/decorators.py': py`
import functools
import time

from .cache import TTLCache

_NOT_CACHED = object()


def memoize(ttl=None, clock=time.monotonic):
    """Cache a function's results by positional arguments for ttl seconds."""

    def wrap(fn):
        cache = TTLCache(clock=clock)

        @functools.wraps(fn)
        def inner(*args):
            value = cache.get(args, _NOT_CACHED)
            if value is _NOT_CACHED:
                value = fn(*args)
                cache.set(args, value)
            return value

        inner.cache = cache
        return inner

    return wrap
`,
      'tests/test_memo.py': py`
from memo.cache import TTLCache
from memo.decorators import memoize


class FakeClock:
    def __init__(self):
        self.now = 0

    def __call__(self):
        return self.now


def test_cache_expires():
    clock = FakeClock()
    c = TTLCache(ttl=5, clock=clock)
    c.set("k", 1)
    clock.now = 6
    assert c.get("k", None) is None


def test_memoize_caches():
    calls = []

    @memoize()
    def f(x):
        calls.append(x)
        return x * 2

    assert f(2) == 4 and f(2) == 4
    assert calls == [2]
`,
    },
    gold: [{ file: 'memo/decorators.py', find: 'cache = TTLCache(clock=clock)', replace: 'cache = TTLCache(ttl=ttl, clock=clock)' }],
    tests: [{ file: 'tests/test_memo.py', append: py`


def test_memoize_ttl_expires():
    clock = FakeClock()
    calls = []

    @memoize(ttl=10, clock=clock)
    def f(x):
        calls.append(x)
        return x

    f(1)
    clock.now = 5
    f(1)
    clock.now = 11
    f(1)
    assert calls == [1, 1]
    assert f.cache.ttl == 10
` }],
    failToPass: ['tests/test_memo.py::test_memoize_ttl_expires'],
    passToPass: ['tests/test_memo.py::test_cache_expires', 'tests/test_memo.py::test_memoize_caches'],
  },
  {
    name: 'layout-1',
    problem: `
indent_block() produces lines longer than the requested width

\`indent_block(text, width=20, prefix="    ")\` is supposed to return lines of at most 20
characters including the prefix, but it wraps to 20 first and then adds the prefix:

\`\`\`python
>>> from layout.blocks import indent_block
>>> print(indent_block("the quick brown fox jumps over the lazy dog", 20, "    "))
    the quick brown fox
    jumps over the lazy
    dog
\`\`\`

The first line is 23 characters. \`wrap()\` also accepts widths <= 0 silently and loops forever-ish
on them; it should raise ValueError so callers notice a prefix wider than the width.
`,
    files: {
      'layout/__init__.py': '',
      'layout/wrap.py': py`
def wrap(text, width):
    """Greedy word wrap; words longer than width get a line of their own."""
    lines, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines
`,
      'layout/blocks.py': py`
from .wrap import wrap


def indent_block(text, width, prefix="  "):
    """Wrap text so that prefix + line fits in width characters."""
    return "\n".join(prefix + line for line in wrap(text, width))
`,
      'tests/test_layout.py': py`
from layout.blocks import indent_block
from layout.wrap import wrap


def test_wrap():
    assert wrap("aa bb cc", 5) == ["aa bb", "cc"]


def test_wrap_long_word():
    assert wrap("abcdefgh ij", 4) == ["abcdefgh", "ij"]


def test_indent_short_text():
    assert indent_block("hi", 10, "> ") == "> hi"
`,
    },
    gold: [
      { file: 'layout/blocks.py', find: 'for line in wrap(text, width))', replace: 'for line in wrap(text, width - len(prefix)))' },
      { file: 'layout/wrap.py', find: py`
    """Greedy word wrap; words longer than width get a line of their own."""
`, replace: py`
    """Greedy word wrap; words longer than width get a line of their own."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
` },
    ],
    tests: [{ file: 'tests/test_layout.py', append: py`


def test_indent_respects_width():
    out = indent_block("the quick brown fox jumps over the lazy dog", 20, "    ")
    assert all(len(line) <= 20 for line in out.splitlines())
    assert out.splitlines()[0] == "    the quick brown"


def test_prefix_wider_than_width():
    import pytest

    with pytest.raises(ValueError):
        indent_block("a b", 2, "    ")
` }],
    failToPass: ['tests/test_layout.py::test_indent_respects_width', 'tests/test_layout.py::test_prefix_wider_than_width'],
    passToPass: ['tests/test_layout.py::test_wrap', 'tests/test_layout.py::test_wrap_long_word', 'tests/test_layout.py::test_indent_short_text'],
  },
];
