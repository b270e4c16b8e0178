/** More multi-module toy tasks: helper + fix, option threaded through layers, field rename. (continued) */
import { py, type ToyTaskSpec } from '../spec';

export const multiSpecs4: ToyTaskSpec[] = [
  {
    name: 'warehouse-1',
    problem: `
Item.to_dict() / from_dict() do not round-trip ("qty" vs "quantity")

\`Item.to_dict()\` writes the count under \`"qty"\`, but \`Item.from_dict()\` and the store's JSON
loader read \`"quantity"\`, so saving and loading a store loses every count:

\`\`\`python
>>> from warehouse.models import Item
>>> Item.from_dict(Item("bolt", 7).to_dict())
KeyError: 'quantity'
\`\`\`

Please standardise on \`quantity\` everywhere: the attribute (\`item.quantity\`), the dict key, and
the report column.
`,
    files: {
      'warehouse/__init__.py': '',
      'warehouse/models.py': py`
class Item:
    def __init__(self, sku, qty=0):
        self.sku = sku
        self.qty = qty

    def to_dict(self):
        return {"sku": self.sku, "qty": self.qty}

    @classmethod
    def from_dict(cls, data):
        return cls(data["sku"], data["quantity"])
`,
      'warehouse/store.py': py`
import json

from .models import Item


class Store:
    def __init__(self):
        self.items = {}

    def receive(self, sku, count):
        item = self.items.setdefault(sku, Item(sku))
        item.qty += count

    def dumps(self):
        return json.dumps([i.to_dict() for i in self.items.values()], sort_keys=True)

    @classmethod
    def loads(cls, text):
        store = cls()
        for data in json.loads(text):
            store.items[data["sku"]] = Item.from_dict(data)
        return store
`,
      'warehouse/report.py': py`
def stock_report(store):
    lines = ["sku,qty"]
    for sku in sorted(store.items):
        lines.append(f"{sku},{store.items[sku].qty}")
    return "\n".join(lines)
`,
      'tests/test_store.py': py`
from warehouse.store import Store


def test_receive_accumulates():
    s = Store()
    s.receive("bolt", 3)
    s.receive("bolt", 4)
    assert len(s.items) == 1


def test_empty_dump():
    assert Store().dumps() == "[]"
`,
    },
    gold: [
      { file: 'warehouse/models.py', content: py`
class Item:
    def __init__(self, sku, quantity=0):
        self.sku = sku
        self.quantity = quantity

    def to_dict(self):
        return {"sku": self.sku, "quantity": self.quantity}

    @classmethod
    def from_dict(cls, data):
        return cls(data["sku"], data["quantity"])
` },
      { file: 'warehouse/store.py', find: 'item.qty += count', replace: 'item.quantity += count' },
      { file: 'warehouse/report.py', content: py`
def stock_report(store):
    lines = ["sku,quantity"]
    for sku in sorted(store.items):
        lines.append(f"{sku},{store.items[sku].quantity}")
    return "\n".join(lines)
` },
    ],
    tests: [{ file: 'tests/test_store.py', append: py`


def test_round_trip():
    s = Store()
    s.receive("bolt", 7)
    s.receive("nut", 2)
    loaded = Store.loads(s.dumps())
    assert {k: v.quantity for k, v in loaded.items.items()} == {"bolt": 7, "nut": 2}


def test_item_dict_key():
    from warehouse.models import Item

    assert Item("bolt", 7).to_dict() == {"sku": "bolt", "quantity": 7}


def test_report_column():
    from warehouse.report import stock_report

    s = Store()
    s.receive("nut", 2)
    assert stock_report(s) == "sku,quantity\nnut,2"
` }],
    failToPass: ['tests/test_store.py::test_round_trip', 'tests/test_store.py::test_item_dict_key', 'tests/test_store.py::test_report_column'],
    passToPass: ['tests/test_store.py::test_receive_accumulates', 'tests/test_store.py::test_empty_dump'],
  },
  {
    name: 'calc-1',
    problem: `
Unary minus is not supported

\`\`\`python
>>> from calc import evaluate
>>> evaluate("-3 + 5")
calc.parser.ParseError: unexpected token '-'
>>> evaluate("2 * -4")
calc.parser.ParseError: unexpected token '-'
\`\`\`

Expected \`2\` and \`-8\`. \`-(1 + 2)\` should give \`-3\`. Binary minus works.
`,
    files: {
      'calc/__init__.py': py`
from .parser import evaluate, ParseError

__all__ = ["evaluate", "ParseError"]
`,
      'calc/lexer.py': py`
import re

_TOKEN = re.compile(r"\s*(\d+|[-+*/()])")


def tokens(text):
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"bad input at {pos}")
        out.append(m.group(1))
        pos = m.end()
    return out
`,
      'calc/parser.py': py`
from .lexer import tokens


class ParseError(ValueError):
    pass


class _Parser:
    def __init__(self, toks):
        self.toks = toks
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def expr(self):
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self):
        value = self.atom()
        while self.peek() in ("*", "/"):
            value = value * self.atom() if self.take() == "*" else value / self.atom()
        return value

    def atom(self):
        tok = self.take()
        if tok == "(":
            value = self.expr()
            if self.take() != ")":
                raise ParseError("expected ')'")
            return value
        if tok is not None and tok.isdigit():
            return int(tok)
        raise ParseError(f"unexpected token {tok!r}")


def evaluate(text):
    parser = _Parser(tokens(text))
    value = parser.expr()
    if parser.peek() is not None:
        raise ParseError(f"unexpected token {parser.peek()!r}")
    return value
`,
      'tests/test_calc.py': py`
import pytest

from calc import evaluate, ParseError


def test_precedence():
    assert evaluate("2 + 3 * 4") == 14


def test_binary_minus():
    assert evaluate("10 - 4 - 3") == 3


def test_parentheses():
    assert evaluate("(2 + 3) * 4") == 20


def test_dangling_operator():
    with pytest.raises(ParseError):
        evaluate("1 +")
`,
    },
    gold: [{ file: 'calc/parser.py', find: py`
    def atom(self):
        tok = self.take()
`, replace: py`
    def atom(self):
        tok = self.take()
        if tok == "-":
            return -self.atom()
` }],
    tests: [{ file: 'tests/test_calc.py', append: py`


@pytest.mark.parametrize("text,expected", [("-3 + 5", 2), ("2 * -4", -8), ("-(1 + 2)", -3)])
def test_unary_minus(text, expected):
    assert evaluate(text) == expected
` }],
    failToPass: ['tests/test_calc.py::test_unary_minus[-3 + 5-2]', 'tests/test_calc.py::test_unary_minus[2 * -4--8]', 'tests/test_calc.py::test_unary_minus[-(1 + 2)--3]'],
    passToPass: ['tests/test_calc.py::test_precedence', 'tests/test_calc.py::test_binary_minus', 'tests/test_calc.py::test_parentheses', 'tests/test_calc.py::test_dangling_operator'],
  },
];
