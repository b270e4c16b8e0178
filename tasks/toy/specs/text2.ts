/** Toy tasks about text: one-line and few-line fixes in a single module. (continued) */
import { py, type ToyTaskSpec } from '../spec';

export const textSpecs2: ToyTaskSpec[] = [
  {
    name: 'tokenizer-1',
    problem: `
Tokenizer splits multi-digit numbers into single digits

\`\`\`python
>>> from tokenizer import tokenize
>>> tokenize("12 + 3")
[('NUM', '1'), ('NUM', '2'), ('OP', '+'), ('NUM', '3')]
\`\`\`

Expected \`[('NUM', '12'), ('OP', '+'), ('NUM', '3')]\`. Decimal numbers like \`3.25\` should also
be one NUM token.
`,
    files: {
      'tokenizer/__init__.py': py`
from .lexer import tokenize, TokenizeError

__all__ = ["tokenize", "TokenizeError"]
`,
      'tokenizer/lexer.py': py`
import re


class TokenizeError(ValueError):
    pass


_TOKEN = re.compile(r"\s*(?:(?P<NUM>\d)|(?P<OP>[-+*/()]))")


def tokenize(text):
    """Turn an arithmetic expression into (kind, text) tokens."""
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise TokenizeError(f"unexpected character at {pos}: {text[pos]!r}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens
`,
      'tests/test_lexer.py': py`
import pytest

from tokenizer import tokenize, TokenizeError


def test_single_digits():
    assert tokenize("1+2") == [("NUM", "1"), ("OP", "+"), ("NUM", "2")]


def test_parentheses_and_spaces():
    assert [t for _, t in tokenize(" ( 4 * 5 ) ")] == ["(", "4", "*", "5", ")"]


def test_bad_character():
    with pytest.raises(TokenizeError):
        tokenize("1 $ 2")
`,
    },
    gold: [{ file: 'tokenizer/lexer.py', find: '(?P<NUM>\\d)', replace: '(?P<NUM>\\d+(?:\\.\\d+)?)' }],
    tests: [{ file: 'tests/test_lexer.py', append: py`


def test_multi_digit():
    assert tokenize("12 + 3") == [("NUM", "12"), ("OP", "+"), ("NUM", "3")]


def test_decimal():
    assert tokenize("3.25*2") == [("NUM", "3.25"), ("OP", "*"), ("NUM", "2")]
` }],
    failToPass: ['tests/test_lexer.py::test_multi_digit', 'tests/test_lexer.py::test_decimal'],
    passToPass: ['tests/test_lexer.py::test_single_digits', 'tests/test_lexer.py::test_parentheses_and_spaces', 'tests/test_lexer.py::test_bad_character'],
  },
  {
    name: 'validators-1',
    problem: `
is_email rejects addresses with a plus tag

Addresses like \`jane+news@example.com\` are valid (and common) but \`is_email\` returns False for
them, so users cannot sign up with a tagged address.

\`\`\`python
>>> from validators import is_email
>>> is_email("jane+news@example.com")
False
\`\`\`

Expected True. Obviously bad input like \`"jane@"\` or \`"@example.com"\` must still be rejected.
`,
    files: {
      'validators/__init__.py': py`
from .email import is_email

__all__ = ["is_email"]
`,
      'validators/email.py': py`
import re

_EMAIL = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def is_email(text):
    """True if text looks like an e-mail address."""
    return bool(_EMAIL.match(text))
`,
      'tests/test_email.py': py`
from validators import is_email


def test_plain_address():
    assert is_email("jane.doe@example.com")


def test_rejects_missing_domain():
    assert not is_email("jane@")


def test_rejects_missing_local_part():
    assert not is_email("@example.com")
`,
    },
    gold: [{ file: 'validators/email.py', find: '^[A-Za-z0-9._-]+@', replace: '^[A-Za-z0-9._+-]+@' }],
    tests: [{ file: 'tests/test_email.py', append: py`


def test_plus_tag():
    assert is_email("jane+news@example.com")
` }],
    failToPass: ['tests/test_email.py::test_plus_tag'],
    passToPass: ['tests/test_email.py::test_plain_address', 'tests/test_email.py::test_rejects_missing_domain', 'tests/test_email.py::test_rejects_missing_local_part'],
  },
  {
    name: 'iniparse-1',
    problem: `
Config parser does not ignore ';' comments

INI files commonly use \`;\` for comments, but our parser only skips lines starting with \`#\`. A
\`;\` comment line is parsed as a key and later raises or produces junk keys:

\`\`\`python
>>> from iniparse import parse
>>> parse("[db]\\n; the host\\nhost = x\\n")
ValueError: line 2: expected key = value
\`\`\`

Expected \`{'db': {'host': 'x'}}\`.
`,
    files: {
      'iniparse/__init__.py': py`
from .parser import parse, get

__all__ = ["parse", "get"]
`,
      'iniparse/parser.py': py`
def parse(text):
    """Parse INI text into {section: {key: value}}."""
    data, section = {}, None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            data.setdefault(section, {})
            continue
        if "=" not in line or section is None:
            raise ValueError(f"line {lineno}: expected key = value")
        key, value = line.split("=", 1)
        data[section][key.strip()] = value.strip()
    return data


def get(data, section, key, default=None):
    return data.get(section, {}).get(key, default)
`,
      'tests/test_parser.py': py`
from iniparse import parse, get


def test_sections_and_keys():
    assert parse("[a]\nx = 1\n[b]\ny=2") == {"a": {"x": "1"}, "b": {"y": "2"}}


def test_hash_comment():
    assert parse("# top\n[a]\n# c\nx = 1") == {"a": {"x": "1"}}


def test_get_default():
    assert get({}, "a", "x", "d") == "d"
`,
    },
    gold: [{ file: 'iniparse/parser.py', find: 'if not line or line.startswith("#"):', replace: 'if not line or line.startswith(("#", ";")):' }],
    tests: [{ file: 'tests/test_parser.py', append: py`


def test_semicolon_comment():
    assert parse("[db]\n; the host\nhost = x\n") == {"db": {"host": "x"}}
` }],
    failToPass: ['tests/test_parser.py::test_semicolon_comment'],
    passToPass: ['tests/test_parser.py::test_sections_and_keys', 'tests/test_parser.py::test_hash_comment', 'tests/test_parser.py::test_get_default'],
  },
  {
    name: 'semver-1',
    problem: `
Version comparison is lexicographic: 1.10.0 sorts before 1.9.0

\`\`\`python
>>> from semver import compare
>>> compare("1.10.0", "1.9.0")
-1
\`\`\`

Expected \`1\` (1.10.0 is newer). \`max_version\` therefore picks the wrong release when any
component has two digits.
`,
    files: {
      'semver/__init__.py': py`
from .version import compare, max_version

__all__ = ["compare", "max_version"]
`,
      'semver/version.py': py`
from functools import cmp_to_key


def _parts(version):
    return version.strip().split(".")


def compare(a, b):
    """-1, 0 or 1 as version a is older than, equal to or newer than b."""
    pa, pb = _parts(a), _parts(b)
    return (pa > pb) - (pa < pb)


def max_version(versions):
    return max(versions, key=cmp_to_key(compare))
`,
      'tests/test_version.py': py`
from semver import compare, max_version


def test_equal():
    assert compare("1.2.3", "1.2.3") == 0


def test_single_digit_order():
    assert compare("1.2.3", "1.3.0") == -1
    assert compare("2.0.0", "1.9.9") == 1
`,
    },
    gold: [{ file: 'semver/version.py', find: 'return version.strip().split(".")', replace: 'return tuple(int(p) for p in version.strip().split("."))' }],
    tests: [{ file: 'tests/test_version.py', append: py`


def test_double_digit_component():
    assert compare("1.10.0", "1.9.0") == 1


def test_max_version():
    assert max_version(["1.9.0", "1.10.0", "1.2.0"]) == "1.10.0"
` }],
    failToPass: ['tests/test_version.py::test_double_digit_component', 'tests/test_version.py::test_max_version'],
    passToPass: ['tests/test_version.py::test_equal', 'tests/test_version.py::test_single_digit_order'],
  },
];
