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
  {
    name: 'durations-1',
    problem: `
Durations in days are not supported

\`\`\`python
>>> from durations import parse_duration, format_duration
>>> parse_duration("2d 3h")
ValueError: unknown unit 'd' in '2d 3h'
>>> format_duration(90000)
'25h'
\`\`\`

Expected \`parse_duration("2d 3h") == 183600\` and \`format_duration(90000) == '1d 1h'\`. The
units are hard-coded in two places (\`parse.py\` has its own table and \`fmt.py\` only knows
hours/minutes/seconds); both should use the table in \`durations/units.py\`, with \`d\` added.
`,
    files: {
      'durations/__init__.py': py`
from .parse import parse_duration
from .fmt import format_duration

__all__ = ["parse_duration", "format_duration"]
`,
      'durations/units.py': py`
# seconds per unit, largest first
UNITS = [("h", 3600), ("m", 60), ("s", 1)]
`,
      'durations/parse.py': py`
import re

_PART = re.compile(r"(\d+)\s*([a-z]+)")
_SECONDS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text):
    """'1h 30m' -> 5400 seconds."""
    total = 0
    for number, unit in _PART.findall(text.lower()):
        if unit not in _SECONDS:
            raise ValueError(f"unknown unit {unit!r} in {text!r}")
        total += int(number) * _SECONDS[unit]
    return total
`,
      'durations/fmt.py': py`
def format_duration(seconds):
    """5400 -> '1h 30m'; zero parts are left out."""
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0s"
`,
      'tests/test_durations.py': py`
from durations import parse_duration, format_duration


def test_parse_hours_minutes():
    assert parse_duration("1h 30m") == 5400


def test_format_hours_minutes():
    assert format_duration(5400) == "1h 30m"


def test_format_zero():
    assert format_duration(0) == "0s"
`,
    },
    gold: [
      { file: 'durations/units.py', find: 'UNITS = [("h", 3600),', replace: 'UNITS = [("d", 86400), ("h", 3600),' },
      { file: 'durations/parse.py', find: '_SECONDS = {"h": 3600, "m": 60, "s": 1}', replace: 'from .units import UNITS\n\n_SECONDS = dict(UNITS)' },
      { file: 'durations/fmt.py', content: py`
from .units import UNITS


def format_duration(seconds):
    """5400 -> '1h 30m'; zero parts are left out."""
    parts = []
    for unit, size in UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0s"
` },
    ],
    tests: [{ file: 'tests/test_durations.py', append: py`


def test_parse_days():
    assert parse_duration("2d 3h") == 183600


def test_format_days():
    assert format_duration(90000) == "1d 1h"
` }],
    failToPass: ['tests/test_durations.py::test_parse_days', 'tests/test_durations.py::test_format_days'],
    passToPass: ['tests/test_durations.py::test_parse_hours_minutes', 'tests/test_durations.py::test_format_hours_minutes', 'tests/test_durations.py::test_format_zero'],
  },
  {
    name: 'bank-2',
    problem: `
A failed transfer still credits the target account

When the source account has insufficient funds, \`transfer()\` raises (good) but the target has
already been credited and the ledger shows a transfer that never happened:

\`\`\`python
>>> from bank.accounts import Account
>>> from bank.ledger import Ledger
>>> a, b, ledger = Account("a", 10), Account("b", 0), Ledger()
>>> ledger.transfer(a, b, 50)
InsufficientFunds: a has 10, needs 50
>>> b.balance, len(ledger.entries)
(50, 1)
\`\`\`

Expected \`(0, 0)\`: a transfer should either happen completely or not at all.
`,
    files: {
      'bank/__init__.py': '',
      'bank/accounts.py': py`
class InsufficientFunds(Exception):
    pass


class Account:
    def __init__(self, name, balance=0):
        self.name = name
        self.balance = balance

    def credit(self, amount):
        self.balance += amount

    def debit(self, amount):
        if amount > self.balance:
            raise InsufficientFunds(f"{self.name} has {self.balance}, needs {amount}")
        self.balance -= amount
`,
      'bank/ledger.py': py`
class Ledger:
    def __init__(self):
        self.entries = []

    def transfer(self, source, target, amount):
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.entries.append((source.name, target.name, amount))
        target.credit(amount)
        source.debit(amount)
`,
      'tests/test_ledger.py': py`
import pytest

from bank.accounts import Account
from bank.ledger import Ledger


def test_transfer_moves_money():
    a, b, ledger = Account("a", 100), Account("b", 5), Ledger()
    ledger.transfer(a, b, 40)
    assert (a.balance, b.balance) == (60, 45)
    assert ledger.entries == [("a", "b", 40)]


def test_non_positive_amount():
    with pytest.raises(ValueError):
        Ledger().transfer(Account("a", 1), Account("b"), 0)
`,
    },
    gold: [
      { file: 'bank/ledger.py', find: py`
        self.entries.append((source.name, target.name, amount))
        target.credit(amount)
        source.debit(amount)
`, replace: py`
        source.debit(amount)
        target.credit(amount)
        self.entries.append((source.name, target.name, amount))
` },
    ],
    tests: [{ file: 'tests/test_ledger.py', append: py`


def test_failed_transfer_changes_nothing():
    from bank.accounts import InsufficientFunds

    a, b, ledger = Account("a", 10), Account("b", 0), Ledger()
    with pytest.raises(InsufficientFunds):
        ledger.transfer(a, b, 50)
    assert (a.balance, b.balance, ledger.entries) == (10, 0, [])
` }],
    failToPass: ['tests/test_ledger.py::test_failed_transfer_changes_nothing'],
    passToPass: ['tests/test_ledger.py::test_transfer_moves_money', 'tests/test_ledger.py::test_non_positive_amount'],
  },
];
