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
  {
    name: 'ringbuffer-1',
    problem: `
RingBuffer loses the newest item instead of the oldest when full

\`RingBuffer\` is meant to keep the last \`capacity\` items, overwriting the oldest. After it wraps,
\`items()\` returns the wrong window:

\`\`\`python
>>> from ringbuffer import RingBuffer
>>> rb = RingBuffer(3)
>>> for x in range(5): rb.push(x)
>>> rb.items()
[3, 4, 0]   # hmm? expected [2, 3, 4]
\`\`\`
`,
    files: {
      'ringbuffer/__init__.py': py`
from .buffer import RingBuffer

__all__ = ["RingBuffer"]
`,
      'ringbuffer/buffer.py': py`
class RingBuffer:
    def __init__(self, capacity):
        self.capacity = capacity
        self._slots = [None] * capacity
        self._start = 0
        self._size = 0

    def push(self, item):
        end = (self._start + self._size) % self.capacity
        self._slots[end] = item
        if self._size < self.capacity:
            self._size += 1

    def items(self):
        """Items from oldest to newest."""
        return [self._slots[(self._start + i) % self.capacity] for i in range(self._size)]

    def __len__(self):
        return self._size
`,
      'tests/test_buffer.py': py`
from ringbuffer import RingBuffer


def test_push_below_capacity():
    rb = RingBuffer(3)
    rb.push("a")
    rb.push("b")
    assert rb.items() == ["a", "b"]


def test_len_caps_at_capacity():
    rb = RingBuffer(2)
    for x in range(5):
        rb.push(x)
    assert len(rb) == 2
`,
    },
    gold: [{ file: 'ringbuffer/buffer.py', find: py`
        if self._size < self.capacity:
            self._size += 1
`, replace: py`
        if self._size < self.capacity:
            self._size += 1
        else:
            self._start = (self._start + 1) % self.capacity
` }],
    tests: [{ file: 'tests/test_buffer.py', append: py`


def test_overwrites_oldest():
    rb = RingBuffer(3)
    for x in range(5):
        rb.push(x)
    assert rb.items() == [2, 3, 4]
` }],
    failToPass: ['tests/test_buffer.py::test_overwrites_oldest'],
    passToPass: ['tests/test_buffer.py::test_push_below_capacity', 'tests/test_buffer.py::test_len_caps_at_capacity'],
  },
  {
    name: 'life-1',
    problem: `
Game of Life: a blinker does not oscillate

A vertical blinker (three live cells in a column) should become horizontal after one step, but
\`step()\` keeps cells alive that should die and the pattern grows into a block.

\`\`\`python
>>> from life import step
>>> step({(1, 0), (1, 1), (1, 2)})
{(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)}
\`\`\`

Expected \`{(0, 1), (1, 1), (2, 1)}\`. It looks like \`neighbours()\` counts the cell itself.
`,
    files: {
      'life/__init__.py': py`
from .board import neighbours, step

__all__ = ["neighbours", "step"]
`,
      'life/board.py': py`
def neighbours(cells, x, y):
    """Number of live cells among the 8 around (x, y)."""
    return sum((x + dx, y + dy) in cells for dx in (-1, 0, 1) for dy in (-1, 0, 1))


def step(cells):
    candidates = {(x + dx, y + dy) for x, y in cells for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
    alive = set()
    for x, y in candidates:
        n = neighbours(cells, x, y)
        if n == 3 or (n == 2 and (x, y) in cells):
            alive.add((x, y))
    return alive
`,
      'tests/test_board.py': py`
from life import step


def test_empty_stays_empty():
    assert step(set()) == set()


def test_birth_needs_three():
    assert (1, 1) in step({(0, 0), (2, 0), (0, 2)})
`,
    },
    gold: [{ file: 'life/board.py', find: 'for dx in (-1, 0, 1) for dy in (-1, 0, 1))\n', replace: 'for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0))\n' }],
    tests: [{ file: 'tests/test_board.py', append: py`


def test_blinker():
    assert step({(1, 0), (1, 1), (1, 2)}) == {(0, 1), (1, 1), (2, 1)}


def test_lonely_cell_dies():
    assert step({(5, 5)}) == set()


def test_neighbours_excludes_self():
    from life import neighbours

    assert neighbours({(0, 0)}, 0, 0) == 0
` }],
    failToPass: ['tests/test_board.py::test_blinker', 'tests/test_board.py::test_neighbours_excludes_self'],
    passToPass: ['tests/test_board.py::test_empty_stays_empty', 'tests/test_board.py::test_birth_needs_three', 'tests/test_board.py::test_lonely_cell_dies'],
  },
  {
    name: 'todo-1',
    problem: `
next_task() returns the least urgent task

Priorities are 1 (urgent) to 5 (someday), as documented in \`TodoList.add\`. But \`next_task()\`
hands out priority 5 first:

\`\`\`python
>>> from todo import TodoList
>>> t = TodoList()
>>> t.add("file taxes", priority=1); t.add("water plants", priority=4)
>>> t.next_task()
'water plants'
\`\`\`

Expected \`'file taxes'\`. Among equal priorities the oldest task should come first.
`,
    files: {
      'todo/__init__.py': py`
from .tasks import TodoList

__all__ = ["TodoList"]
`,
      'todo/tasks.py': py`
class TodoList:
    def __init__(self):
        self._tasks = []
        self._counter = 0

    def add(self, title, priority=3):
        """Add a task; priority 1 is most urgent, 5 least."""
        if not 1 <= priority <= 5:
            raise ValueError("priority must be 1..5")
        self._counter += 1
        self._tasks.append((priority, self._counter, title))

    def next_task(self):
        """Remove and return the most urgent task's title (oldest first among equals)."""
        if not self._tasks:
            return None
        self._tasks.sort(key=lambda t: (-t[0], t[1]))
        return self._tasks.pop(0)[2]

    def __len__(self):
        return len(self._tasks)
`,
      'tests/test_tasks.py': py`
import pytest

from todo import TodoList


def test_empty():
    assert TodoList().next_task() is None


def test_bad_priority():
    with pytest.raises(ValueError):
        TodoList().add("x", priority=9)


def test_single_task():
    t = TodoList()
    t.add("a")
    assert t.next_task() == "a"
    assert len(t) == 0
`,
    },
    gold: [{ file: 'todo/tasks.py', find: 'self._tasks.sort(key=lambda t: (-t[0], t[1]))', replace: 'self._tasks.sort(key=lambda t: (t[0], t[1]))' }],
    tests: [{ file: 'tests/test_tasks.py', append: py`


def test_most_urgent_first():
    t = TodoList()
    t.add("water plants", priority=4)
    t.add("file taxes", priority=1)
    assert t.next_task() == "file taxes"


def test_oldest_first_among_equals():
    t = TodoList()
    t.add("first", priority=2)
    t.add("second", priority=2)
    t.add("later", priority=5)
    assert [t.next_task(), t.next_task(), t.next_task()] == ["first", "second", "later"]
` }],
    failToPass: ['tests/test_tasks.py::test_most_urgent_first', 'tests/test_tasks.py::test_oldest_first_among_equals'],
    passToPass: ['tests/test_tasks.py::test_empty', 'tests/test_tasks.py::test_bad_priority', 'tests/test_tasks.py::test_single_task'],
  },
];
