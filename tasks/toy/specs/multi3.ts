/** Toy tasks whose fix spans modules: a parameter threaded through, a rename, a fix plus helper. (continued) */
import { py, type ToyTaskSpec } from '../spec';

export const multiSpecs3: ToyTaskSpec[] = [
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
