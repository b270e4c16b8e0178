/** Toy tasks about small stateful data structures: wrong comparison, wrong default, missed update. (continued) */
import { py, type ToyTaskSpec } from '../spec';

export const dataSpecs2: ToyTaskSpec[] = [
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
