/** Toy tasks whose fix spans modules: a parameter threaded through, a rename, a fix plus helper. */
import { py, type ToyTaskSpec } from '../spec';

export const multiSpecs: ToyTaskSpec[] = [
  {
    name: 'shop-1',
    problem: `
Invoices always show dollars, even for EUR carts

A \`Cart\` created with \`currency="EUR"\` still renders its total and the invoice in dollars:

\`\`\`python
>>> from shop.cart import Cart
>>> from shop.invoice import render_invoice
>>> cart = Cart(currency="EUR")
>>> cart.add("mug", 2, 4.5)
>>> cart.total_str()
'$9.00'
>>> print(render_invoice(cart))
mug x2 $9.00
TOTAL $9.00
\`\`\`

Expected \`'€9.00'\` and the invoice lines in euros too. \`format_price\` in \`shop/pricing.py\` has no
way to know the currency: it needs a \`currency\` parameter (default "USD", so existing callers keep
working) and the cart and invoice need to pass theirs.
`,
    files: {
      'shop/__init__.py': '',
      'shop/pricing.py': py`
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


def format_price(amount):
    return f"$" + f"{amount:.2f}"
`,
      'shop/cart.py': py`
from .pricing import format_price


class Cart:
    def __init__(self, currency="USD"):
        self.currency = currency
        self.lines = []

    def add(self, name, qty, unit_price):
        self.lines.append((name, qty, unit_price))

    def total(self):
        return sum(qty * price for _, qty, price in self.lines)

    def total_str(self):
        return format_price(self.total())
`,
      'shop/invoice.py': py`
from .pricing import format_price


def render_invoice(cart):
    rows = [f"{name} x{qty} {format_price(qty * price)}" for name, qty, price in cart.lines]
    rows.append(f"TOTAL {cart.total_str()}")
    return "\n".join(rows)
`,
      'tests/test_shop.py': py`
from shop.cart import Cart
from shop.invoice import render_invoice
from shop.pricing import format_price


def test_format_price_default():
    assert format_price(3) == "$3.00"


def test_usd_invoice():
    cart = Cart()
    cart.add("pen", 3, 1.5)
    assert render_invoice(cart) == "pen x3 $4.50\nTOTAL $4.50"
`,
    },
    gold: [
      { file: 'shop/pricing.py', find: py`
def format_price(amount):
    return f"$" + f"{amount:.2f}"
`, replace: py`
def format_price(amount, currency="USD"):
    return SYMBOLS[currency] + f"{amount:.2f}"
` },
      { file: 'shop/cart.py', find: 'return format_price(self.total())', replace: 'return format_price(self.total(), self.currency)' },
      { file: 'shop/invoice.py', find: '{format_price(qty * price)}', replace: '{format_price(qty * price, cart.currency)}' },
    ],
    tests: [{ file: 'tests/test_shop.py', append: py`


def test_format_price_currency():
    assert format_price(2, currency="GBP") == "£2.00"


def test_eur_cart_total():
    cart = Cart(currency="EUR")
    cart.add("mug", 2, 4.5)
    assert cart.total_str() == "€9.00"


def test_eur_invoice():
    cart = Cart(currency="EUR")
    cart.add("mug", 2, 4.5)
    assert render_invoice(cart) == "mug x2 €9.00\nTOTAL €9.00"
` }],
    failToPass: ['tests/test_shop.py::test_format_price_currency', 'tests/test_shop.py::test_eur_cart_total', 'tests/test_shop.py::test_eur_invoice'],
    passToPass: ['tests/test_shop.py::test_format_price_default', 'tests/test_shop.py::test_usd_invoice'],
  },
  {
    name: 'geometry-1',
    problem: `
Rename \`perim\` to \`perimeter\`

Every other function in \`geometry.shapes\` has a full-word name (\`area\`, \`diagonal\`), but the
perimeter is \`perim\`. New code in other packages already calls \`geometry.perimeter\` and fails
with \`AttributeError: module 'geometry' has no attribute 'perimeter'\`.

Please rename it to \`perimeter\` everywhere (shapes, the package exports, and \`report.summary\`,
which uses it). We don't need to keep the old name.
`,
    files: {
      'geometry/__init__.py': py`
from .shapes import area, diagonal, perim
from .report import summary

__all__ = ["area", "diagonal", "perim", "summary"]
`,
      'geometry/shapes.py': py`
import math


def area(w, h):
    return w * h


def perim(w, h):
    return 2 * (w + h)


def diagonal(w, h):
    return math.hypot(w, h)
`,
      'geometry/report.py': py`
from .shapes import area, perim


def summary(w, h):
    return f"{w}x{h}: area={area(w, h)} perimeter={perim(w, h)}"
`,
      'tests/test_geometry.py': py`
import geometry


def test_area():
    assert geometry.area(3, 4) == 12


def test_diagonal():
    assert geometry.diagonal(3, 4) == 5


def test_summary():
    assert geometry.summary(2, 5) == "2x5: area=10 perimeter=14"
`,
    },
    gold: [
      { file: 'geometry/__init__.py', content: py`
from .shapes import area, diagonal, perimeter
from .report import summary

__all__ = ["area", "diagonal", "perimeter", "summary"]
` },
      { file: 'geometry/shapes.py', find: 'def perim(w, h):', replace: 'def perimeter(w, h):' },
      { file: 'geometry/report.py', content: py`
from .shapes import area, perimeter


def summary(w, h):
    return f"{w}x{h}: area={area(w, h)} perimeter={perimeter(w, h)}"
` },
    ],
    tests: [{ file: 'tests/test_geometry.py', append: py`


def test_perimeter():
    assert geometry.perimeter(3, 4) == 14


def test_shapes_module_exports_perimeter():
    from geometry.shapes import perimeter

    assert perimeter(1, 1) == 4
` }],
    failToPass: ['tests/test_geometry.py::test_perimeter', 'tests/test_geometry.py::test_shapes_module_exports_perimeter'],
    passToPass: ['tests/test_geometry.py::test_area', 'tests/test_geometry.py::test_diagonal', 'tests/test_geometry.py::test_summary'],
  },
  {
    name: 'logfilter-1',
    problem: `
min_level filtering compares level names alphabetically

\`filter_records(records, min_level="WARNING")\` drops ERROR records and keeps INFO ones:

\`\`\`python
>>> from logfilter.filter import filter_records
>>> recs = [("INFO", "started"), ("WARNING", "slow"), ("ERROR", "boom")]
>>> filter_records(recs, "WARNING")
[('WARNING', 'slow')]
\`\`\`

Expected \`[('WARNING', 'slow'), ('ERROR', 'boom')]\`. The levels are compared as strings. There
should be a single place that knows the order DEBUG < INFO < WARNING < ERROR < CRITICAL (e.g. a
\`level_value(name)\` helper in \`logfilter/levels.py\`, case-insensitive, raising ValueError for
unknown names) and the filter should use it.
`,
    files: {
      'logfilter/__init__.py': '',
      'logfilter/levels.py': py`
LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
`,
      'logfilter/filter.py': py`
def filter_records(records, min_level="INFO"):
    """Keep (level, message) records at or above min_level."""
    return [(lvl, msg) for lvl, msg in records if lvl >= min_level]


def count_by_level(records):
    counts = {}
    for lvl, _ in records:
        counts[lvl] = counts.get(lvl, 0) + 1
    return counts
`,
      'tests/test_filter.py': py`
from logfilter.filter import filter_records, count_by_level


def test_count_by_level():
    assert count_by_level([("INFO", "a"), ("INFO", "b"), ("ERROR", "c")]) == {"INFO": 2, "ERROR": 1}


def test_filter_keeps_same_level():
    assert filter_records([("INFO", "a")], "INFO") == [("INFO", "a")]
`,
    },
    gold: [
      { file: 'logfilter/levels.py', append: py`


def level_value(name):
    """Position of a level name in LEVELS (case-insensitive); ValueError if unknown."""
    try:
        return LEVELS.index(name.upper())
    except ValueError:
        raise ValueError(f"unknown log level: {name!r}") from None
` },
      { file: 'logfilter/filter.py', content: py`
from .levels import level_value


def filter_records(records, min_level="INFO"):
    """Keep (level, message) records at or above min_level."""
    threshold = level_value(min_level)
    return [(lvl, msg) for lvl, msg in records if level_value(lvl) >= threshold]


def count_by_level(records):
    counts = {}
    for lvl, _ in records:
        counts[lvl] = counts.get(lvl, 0) + 1
    return counts
` },
    ],
    tests: [
      { file: 'tests/test_filter.py', append: py`


def test_filter_by_severity():
    recs = [("INFO", "started"), ("WARNING", "slow"), ("ERROR", "boom")]
    assert filter_records(recs, "WARNING") == [("WARNING", "slow"), ("ERROR", "boom")]
` },
      { file: 'tests/test_levels.py', content: py`
import pytest

from logfilter.levels import level_value


def test_level_order():
    assert level_value("DEBUG") < level_value("info") < level_value("Warning") < level_value("ERROR")


def test_unknown_level():
    with pytest.raises(ValueError):
        level_value("LOUD")
` },
    ],
    failToPass: ['tests/test_filter.py::test_filter_by_severity', 'tests/test_levels.py::test_level_order', 'tests/test_levels.py::test_unknown_level'],
    passToPass: ['tests/test_filter.py::test_count_by_level', 'tests/test_filter.py::test_filter_keeps_same_level'],
  },
];
