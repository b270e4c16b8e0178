/** Toy tasks about numbers: off-by-one, wrong operator, missing table entry. */
import { py, type ToyTaskSpec } from '../spec';

export const numberSpecs: ToyTaskSpec[] = [
  {
    name: 'romans-1',
    problem: `
to_roman(4) returns 'IIII'

\`\`\`python
>>> from romans import to_roman
>>> to_roman(4), to_roman(14), to_roman(1994)
('IIII', 'XIIII', 'MCMXCIIII')
\`\`\`

Every other subtractive form (IX, XL, XC, CD, CM) works; only 4 is written additively. Expected
\`('IV', 'XIV', 'MCMXCIV')\`. \`from_roman\` already parses \`IV\` correctly.
`,
    files: {
      'romans/__init__.py': py`
from .numerals import to_roman, from_roman

__all__ = ["to_roman", "from_roman"]
`,
      'romans/numerals.py': py`
_TABLE = [
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"),
    (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
    (10, "X"), (9, "IX"), (5, "V"), (1, "I"),
]
_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def to_roman(n):
    if not 0 < n < 4000:
        raise ValueError("out of range")
    out = []
    for value, symbol in _TABLE:
        while n >= value:
            out.append(symbol)
            n -= value
    return "".join(out)


def from_roman(text):
    total = 0
    for i, ch in enumerate(text):
        value = _VALUES[ch]
        if i + 1 < len(text) and value < _VALUES[text[i + 1]]:
            total -= value
        else:
            total += value
    return total
`,
      'tests/test_numerals.py': py`
from romans import to_roman, from_roman


def test_to_roman_basic():
    assert [to_roman(n) for n in (1, 3, 5, 9, 10, 40)] == ["I", "III", "V", "IX", "X", "XL"]


def test_from_roman():
    assert from_roman("MCMXCIV") == 1994
`,
    },
    gold: [{ file: 'romans/numerals.py', find: '(10, "X"), (9, "IX"), (5, "V"), (1, "I"),', replace: '(10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),' }],
    tests: [{ file: 'tests/test_numerals.py', append: py`


def test_to_roman_four():
    assert to_roman(4) == "IV"
    assert to_roman(14) == "XIV"


def test_canonical_round_trip():
    assert to_roman(from_roman("XLIV")) == "XLIV"
` }],
    failToPass: ['tests/test_numerals.py::test_to_roman_four', 'tests/test_numerals.py::test_canonical_round_trip'],
    passToPass: ['tests/test_numerals.py::test_to_roman_basic', 'tests/test_numerals.py::test_from_roman'],
  },
  {
    name: 'stats-1',
    problem: `
median() of an even-length list returns the upper middle value

\`\`\`python
>>> from stats import median
>>> median([1, 2, 3, 4])
3
\`\`\`

The median of an even number of values is the mean of the two middle ones, so this should be
\`2.5\`. Odd-length lists are fine.
`,
    files: {
      'stats/__init__.py': py`
from .central import mean, median

__all__ = ["mean", "median"]
`,
      'stats/central.py': py`
def mean(values):
    values = list(values)
    if not values:
        raise ValueError("mean of empty data")
    return sum(values) / len(values)


def median(values):
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of empty data")
    return ordered[len(ordered) // 2]
`,
      'tests/test_central.py': py`
import pytest

from stats import mean, median


def test_mean():
    assert mean([1, 2, 3, 4]) == 2.5


def test_median_odd():
    assert median([3, 1, 2]) == 2


def test_median_empty():
    with pytest.raises(ValueError):
        median([])
`,
    },
    gold: [{ file: 'stats/central.py', find: py`
    return ordered[len(ordered) // 2]
`, replace: py`
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2
` }],
    tests: [{ file: 'tests/test_central.py', append: py`


def test_median_even():
    assert median([1, 2, 3, 4]) == 2.5
    assert median([10, 0]) == 5
` }],
    failToPass: ['tests/test_central.py::test_median_even'],
    passToPass: ['tests/test_central.py::test_mean', 'tests/test_central.py::test_median_odd', 'tests/test_central.py::test_median_empty'],
  },
  {
    name: 'units-1',
    problem: `
fahrenheit_to_celsius gives wildly wrong values

\`\`\`python
>>> from units import fahrenheit_to_celsius
>>> fahrenheit_to_celsius(212)
324.0
\`\`\`

Water boils at 100 °C. Only 32 °F → 0 °C comes out right, which is probably why nobody noticed.
\`celsius_to_fahrenheit\` is correct.
`,
    files: {
      'units/__init__.py': py`
from .temperature import celsius_to_fahrenheit, fahrenheit_to_celsius

__all__ = ["celsius_to_fahrenheit", "fahrenheit_to_celsius"]
`,
      'units/temperature.py': py`
def celsius_to_fahrenheit(c):
    return c * 9 / 5 + 32


def fahrenheit_to_celsius(f):
    return (f - 32) * 9 / 5
`,
      'tests/test_temperature.py': py`
from units import celsius_to_fahrenheit, fahrenheit_to_celsius


def test_c_to_f():
    assert celsius_to_fahrenheit(100) == 212


def test_f_to_c_freezing():
    assert fahrenheit_to_celsius(32) == 0
`,
    },
    gold: [{ file: 'units/temperature.py', find: 'return (f - 32) * 9 / 5', replace: 'return (f - 32) * 5 / 9' }],
    tests: [{ file: 'tests/test_temperature.py', append: py`


def test_f_to_c_boiling():
    assert fahrenheit_to_celsius(212) == 100


def test_round_trip():
    assert round(fahrenheit_to_celsius(celsius_to_fahrenheit(37.5)), 9) == 37.5
` }],
    failToPass: ['tests/test_temperature.py::test_f_to_c_boiling', 'tests/test_temperature.py::test_round_trip'],
    passToPass: ['tests/test_temperature.py::test_c_to_f', 'tests/test_temperature.py::test_f_to_c_freezing'],
  },
  {
    name: 'pagination-1',
    problem: `
page_count drops the last partial page

With 101 items and 10 per page, \`page_count\` says 10 pages, so item 101 can never be shown.

\`\`\`python
>>> from pagination import page_count, page
>>> page_count(101, 10)
10
\`\`\`

Expected 11. \`page(items, 11, 10)\` should then return the last item.
`,
    files: {
      'pagination/__init__.py': py`
from .pages import page_count, page

__all__ = ["page_count", "page"]
`,
      'pagination/pages.py': py`
def page_count(total, per_page):
    if per_page <= 0:
        raise ValueError("per_page must be positive")
    return total // per_page


def page(items, number, per_page):
    """Items on 1-based page number."""
    if not 1 <= number <= max(page_count(len(items), per_page), 1):
        raise IndexError(f"no page {number}")
    start = (number - 1) * per_page
    return items[start : start + per_page]
`,
      'tests/test_pages.py': py`
from pagination import page_count, page


def test_exact_pages():
    assert page_count(100, 10) == 10


def test_empty():
    assert page_count(0, 10) == 0


def test_first_page():
    assert page(list(range(25)), 1, 10) == list(range(10))
`,
    },
    gold: [{ file: 'pagination/pages.py', find: 'return total // per_page', replace: 'return -(-total // per_page)' }],
    tests: [{ file: 'tests/test_pages.py', append: py`


def test_partial_last_page():
    assert page_count(101, 10) == 11


def test_last_page_items():
    assert page(list(range(101)), 11, 10) == [100]
` }],
    failToPass: ['tests/test_pages.py::test_partial_last_page', 'tests/test_pages.py::test_last_page_items'],
    passToPass: ['tests/test_pages.py::test_exact_pages', 'tests/test_pages.py::test_empty', 'tests/test_pages.py::test_first_page'],
  },
];
