/** Toy tasks about small stateful data structures: wrong comparison, wrong default, missed update. */
import { py, type ToyTaskSpec } from '../spec';

export const dataSpecs: ToyTaskSpec[] = [
  {
    name: 'bank-1',
    problem: `
Cannot withdraw the entire balance

Withdrawing exactly the amount in an account raises \`InsufficientFunds\`:

\`\`\`python
>>> from bank import Account
>>> acct = Account(100)
>>> acct.withdraw(100)
bank.account.InsufficientFunds: balance 100, requested 100
\`\`\`

Expected the withdrawal to succeed and leave a balance of 0. Overdrawing (101) must still raise.
`,
    files: {
      'bank/__init__.py': py`
from .account import Account, InsufficientFunds

__all__ = ["Account", "InsufficientFunds"]
`,
      'bank/account.py': py`
class InsufficientFunds(Exception):
    pass


class Account:
    def __init__(self, balance=0):
        self.balance = balance

    def deposit(self, amount):
        if amount <= 0:
            raise ValueError("deposit must be positive")
        self.balance += amount

    def withdraw(self, amount):
        if amount <= 0:
            raise ValueError("withdrawal must be positive")
        if amount >= self.balance:
            raise InsufficientFunds(f"balance {self.balance}, requested {amount}")
        self.balance -= amount
`,
      'tests/test_account.py': py`
import pytest

from bank import Account, InsufficientFunds


def test_deposit():
    acct = Account()
    acct.deposit(30)
    assert acct.balance == 30


def test_partial_withdraw():
    acct = Account(50)
    acct.withdraw(20)
    assert acct.balance == 30


def test_overdraw_raises():
    with pytest.raises(InsufficientFunds):
        Account(10).withdraw(11)
`,
    },
    gold: [{ file: 'bank/account.py', find: 'if amount >= self.balance:', replace: 'if amount > self.balance:' }],
    tests: [{ file: 'tests/test_account.py', append: py`


def test_withdraw_entire_balance():
    acct = Account(100)
    acct.withdraw(100)
    assert acct.balance == 0
` }],
    failToPass: ['tests/test_account.py::test_withdraw_entire_balance'],
    passToPass: ['tests/test_account.py::test_deposit', 'tests/test_account.py::test_partial_withdraw', 'tests/test_account.py::test_overdraw_raises'],
  },
  {
    name: 'lru-1',
    problem: `
LRUCache evicts entries that were just read

\`get()\` does not count as a use, so the cache evicts by insertion order instead of recency:

\`\`\`python
>>> from lru import LRUCache
>>> c = LRUCache(2)
>>> c.put("a", 1); c.put("b", 2)
>>> c.get("a")
1
>>> c.put("c", 3)
>>> c.get("a")   # expected 1: "b" was the least recently used
None
\`\`\`
`,
    files: {
      'lru/__init__.py': py`
from .cache import LRUCache

__all__ = ["LRUCache"]
`,
      'lru/cache.py': py`
from collections import OrderedDict


class LRUCache:
    def __init__(self, capacity):
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._data = OrderedDict()

    def get(self, key, default=None):
        if key not in self._data:
            return default
        return self._data[key]

    def put(self, key, value):
        if key in self._data:
            self._data.move_to_end(key)
        self._data[key] = value
        if len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def __len__(self):
        return len(self._data)
`,
      'tests/test_cache.py': py`
from lru import LRUCache


def test_put_get():
    c = LRUCache(2)
    c.put("a", 1)
    assert c.get("a") == 1
    assert c.get("zz") is None


def test_evicts_oldest_insert():
    c = LRUCache(2)
    c.put("a", 1)
    c.put("b", 2)
    c.put("c", 3)
    assert c.get("a") is None
    assert len(c) == 2
`,
    },
    gold: [{ file: 'lru/cache.py', find: py`
            return default
        return self._data[key]
`, replace: py`
            return default
        self._data.move_to_end(key)
        return self._data[key]
` }],
    tests: [{ file: 'tests/test_cache.py', append: py`


def test_get_refreshes_recency():
    c = LRUCache(2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1
    c.put("c", 3)
    assert c.get("a") == 1
    assert c.get("b") is None
` }],
    failToPass: ['tests/test_cache.py::test_get_refreshes_recency'],
    passToPass: ['tests/test_cache.py::test_put_get', 'tests/test_cache.py::test_evicts_oldest_insert'],
  },
  {
    name: 'dates-1',
    problem: `
parse_date rejects 29 February 2000

\`\`\`python
>>> from dates import parse_date
>>> parse_date("2000-02-29")
ValueError: day out of range: 2000-02-29
\`\`\`

2000 is a leap year (divisible by 400). 2024-02-29 parses fine and 1900-02-29 is correctly
rejected, so the century rule seems to be implemented only halfway.
`,
    files: {
      'dates/__init__.py': py`
from .parse import parse_date, is_leap

__all__ = ["parse_date", "is_leap"]
`,
      'dates/parse.py': py`
import re

_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def is_leap(year):
    return year % 4 == 0 and year % 100 != 0


def parse_date(text):
    """Parse YYYY-MM-DD into a (year, month, day) tuple, validating the day."""
    m = _ISO.match(text.strip())
    if not m:
        raise ValueError(f"not an ISO date: {text}")
    year, month, day = (int(g) for g in m.groups())
    if not 1 <= month <= 12:
        raise ValueError(f"month out of range: {text}")
    last = 29 if month == 2 and is_leap(year) else _DAYS[month - 1]
    if not 1 <= day <= last:
        raise ValueError(f"day out of range: {text}")
    return (year, month, day)
`,
      'tests/test_parse.py': py`
import pytest

from dates import parse_date


def test_parse_basic():
    assert parse_date("2023-07-14") == (2023, 7, 14)


def test_leap_2024():
    assert parse_date("2024-02-29") == (2024, 2, 29)


def test_non_leap_1900():
    with pytest.raises(ValueError):
        parse_date("1900-02-29")
`,
    },
    gold: [{ file: 'dates/parse.py', find: 'return year % 4 == 0 and year % 100 != 0', replace: 'return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)' }],
    tests: [{ file: 'tests/test_parse.py', append: py`


def test_leap_2000():
    assert parse_date("2000-02-29") == (2000, 2, 29)
` }],
    failToPass: ['tests/test_parse.py::test_leap_2000'],
    passToPass: ['tests/test_parse.py::test_parse_basic', 'tests/test_parse.py::test_leap_2024', 'tests/test_parse.py::test_non_leap_1900'],
  },
  {
    name: 'inventory-1',
    problem: `
low_stock() without arguments returns nothing

The docstring says \`Inventory.low_stock()\` lists items with fewer than 5 units by default, but
called without a threshold it always returns an empty list:

\`\`\`python
>>> from inventory import Inventory
>>> inv = Inventory({"bolts": 3, "nuts": 40})
>>> inv.low_stock()
[]
\`\`\`

Expected \`['bolts']\`. Passing \`threshold=5\` explicitly works.
`,
    files: {
      'inventory/__init__.py': py`
from .stock import Inventory

__all__ = ["Inventory"]
`,
      'inventory/stock.py': py`
class Inventory:
    def __init__(self, items=None):
        self.items = dict(items or {})

    def add(self, name, qty):
        self.items[name] = self.items.get(name, 0) + qty

    def remove(self, name, qty):
        have = self.items.get(name, 0)
        if qty > have:
            raise ValueError(f"only {have} {name} in stock")
        self.items[name] = have - qty

    def low_stock(self, threshold=0):
        """Names of items with fewer than threshold units (default 5), sorted."""
        return sorted(n for n, q in self.items.items() if q < threshold)
`,
      'tests/test_stock.py': py`
import pytest

from inventory import Inventory


def test_add_remove():
    inv = Inventory()
    inv.add("bolts", 10)
    inv.remove("bolts", 4)
    assert inv.items["bolts"] == 6


def test_remove_too_many():
    with pytest.raises(ValueError):
        Inventory({"nuts": 1}).remove("nuts", 2)


def test_low_stock_explicit():
    inv = Inventory({"a": 1, "b": 9, "c": 2})
    assert inv.low_stock(threshold=3) == ["a", "c"]
`,
    },
    gold: [{ file: 'inventory/stock.py', find: 'def low_stock(self, threshold=0):', replace: 'def low_stock(self, threshold=5):' }],
    tests: [{ file: 'tests/test_stock.py', append: py`


def test_low_stock_default_threshold():
    inv = Inventory({"bolts": 3, "nuts": 40, "washers": 5})
    assert inv.low_stock() == ["bolts"]
` }],
    failToPass: ['tests/test_stock.py::test_low_stock_default_threshold'],
    passToPass: ['tests/test_stock.py::test_add_remove', 'tests/test_stock.py::test_remove_too_many', 'tests/test_stock.py::test_low_stock_explicit'],
  },
];
