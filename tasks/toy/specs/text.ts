/** Toy tasks about text: one-line and few-line fixes in a single module. */
import { py, type ToyTaskSpec } from '../spec';

export const textSpecs: ToyTaskSpec[] = [
  {
    name: 'strutils-1',
    problem: `
truncate() cuts strings that already fit

\`strutils.truncate(text, width)\` is documented to return the text unchanged when it fits in
\`width\` characters, but a string of exactly \`width\` characters gets shortened and suffixed.

Repro:

\`\`\`python
>>> from strutils import truncate
>>> truncate("hello", 5)
'he...'
\`\`\`

Expected \`'hello'\`. Strings shorter than the width and longer than it behave correctly.
`,
    files: {
      'strutils/__init__.py': py`
from .core import truncate, pad_left

__all__ = ["truncate", "pad_left"]
`,
      'strutils/core.py': py`
def truncate(text, width, suffix="..."):
    """Return text unchanged if it fits in width characters, else cut it and add suffix."""
    if len(text) < width:
        return text
    return text[: max(width - len(suffix), 0)] + suffix


def pad_left(text, width, fill=" "):
    """Pad text on the left with fill up to width characters."""
    if len(text) >= width:
        return text
    return fill * (width - len(text)) + text
`,
      'tests/test_core.py': py`
from strutils import truncate, pad_left


def test_truncate_short():
    assert truncate("hi", 5) == "hi"


def test_truncate_long():
    assert truncate("hello world", 8) == "hello..."


def test_pad_left():
    assert pad_left("7", 3, "0") == "007"
`,
    },
    gold: [{ file: 'strutils/core.py', find: 'if len(text) < width:', replace: 'if len(text) <= width:' }],
    tests: [{ file: 'tests/test_core.py', append: py`


def test_truncate_exact_width():
    assert truncate("hello", 5) == "hello"
` }],
    failToPass: ['tests/test_core.py::test_truncate_exact_width'],
    passToPass: ['tests/test_core.py::test_truncate_short', 'tests/test_core.py::test_truncate_long', 'tests/test_core.py::test_pad_left'],
  },
  {
    name: 'slugify-1',
    problem: `
slugify leaves a trailing dash when the title ends with punctuation

Titles that end in "!" or "?" produce slugs with a dangling dash, which breaks our URLs.

\`\`\`python
>>> from slugify import slugify
>>> slugify("Hello, World!")
'hello-world-'
\`\`\`

Expected: \`'hello-world'\`. Leading punctuation is stripped correctly already.
`,
    files: {
      'slugify/__init__.py': py`
from .slug import slugify

__all__ = ["slugify"]
`,
      'slugify/slug.py': py`
import re

_NON_WORD = re.compile(r"[^a-z0-9]+")


def slugify(title):
    """Lower-case the title and join its words with single dashes."""
    slug = _NON_WORD.sub("-", title.lower())
    return slug.lstrip("-")
`,
      'tests/test_slug.py': py`
from slugify import slugify


def test_simple():
    assert slugify("Hello World") == "hello-world"


def test_leading_punctuation():
    assert slugify("...Hello") == "hello"
`,
    },
    gold: [{ file: 'slugify/slug.py', find: 'return slug.lstrip("-")', replace: 'return slug.strip("-")' }],
    tests: [{ file: 'tests/test_slug.py', append: py`


def test_trailing_punctuation():
    assert slugify("Hello, World!") == "hello-world"


def test_question():
    assert slugify("What is this?") == "what-is-this"
` }],
    failToPass: ['tests/test_slug.py::test_trailing_punctuation', 'tests/test_slug.py::test_question'],
    passToPass: ['tests/test_slug.py::test_simple', 'tests/test_slug.py::test_leading_punctuation'],
  },
  {
    name: 'wordfreq-1',
    problem: `
word_counts treats "The" and "the" as different words

\`wordfreq.word_counts\` is supposed to be case-insensitive (the README says so), but:

\`\`\`python
>>> from wordfreq import word_counts
>>> word_counts("The cat saw the dog")
{'The': 1, 'cat': 1, 'saw': 1, 'the': 1, 'dog': 1}
\`\`\`

Expected \`{'the': 2, 'cat': 1, 'saw': 1, 'dog': 1}\`. \`top_words\` has the same problem since it
uses word_counts.
`,
    files: {
      'wordfreq/__init__.py': py`
from .counts import word_counts, top_words

__all__ = ["word_counts", "top_words"]
`,
      'wordfreq/counts.py': py`
import re

_WORD = re.compile(r"[A-Za-z']+")


def word_counts(text):
    """Count words case-insensitively; keys are lower-case."""
    counts = {}
    for word in _WORD.findall(text):
        counts[word] = counts.get(word, 0) + 1
    return counts


def top_words(text, n=3):
    """The n most frequent words, ties broken alphabetically."""
    counts = word_counts(text)
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]
`,
      'tests/test_counts.py': py`
from wordfreq import word_counts, top_words


def test_counts_lowercase_text():
    assert word_counts("a b a") == {"a": 2, "b": 1}


def test_top_words_ties():
    assert top_words("b a c", 2) == ["a", "b"]
`,
    },
    gold: [{ file: 'wordfreq/counts.py', find: 'for word in _WORD.findall(text):', replace: 'for word in _WORD.findall(text.lower()):' }],
    tests: [{ file: 'tests/test_counts.py', append: py`


def test_counts_mixed_case():
    assert word_counts("The cat saw the dog") == {"the": 2, "cat": 1, "saw": 1, "dog": 1}


def test_top_words_mixed_case():
    assert top_words("Dog dog cat", 1) == ["dog"]
` }],
    failToPass: ['tests/test_counts.py::test_counts_mixed_case', 'tests/test_counts.py::test_top_words_mixed_case'],
    passToPass: ['tests/test_counts.py::test_counts_lowercase_text', 'tests/test_counts.py::test_top_words_ties'],
  },
  {
    name: 'csvlite-1',
    problem: `
split_row breaks quoted fields that contain a comma

Parsing a CSV row whose field is quoted and contains a comma splits the field in two:

\`\`\`python
>>> from csvlite import split_row
>>> split_row('1,"Smith, John",42')
['1', '"Smith', ' John"', '42']
\`\`\`

Expected \`['1', 'Smith, John', '42']\` (quotes removed, comma kept). A doubled quote inside a
quoted field (\`""\`) should become one literal quote, as in RFC 4180.
`,
    files: {
      'csvlite/__init__.py': py`
from .row import split_row, join_row

__all__ = ["split_row", "join_row"]
`,
      'csvlite/row.py': py`
def split_row(line):
    """Split one CSV line into fields."""
    return line.split(",")


def join_row(fields):
    """Join fields into a CSV line, quoting fields that need it."""
    out = []
    for field in fields:
        if any(ch in field for ch in ',"'):
            field = '"' + field.replace('"', '""') + '"'
        out.append(field)
    return ",".join(out)
`,
      'tests/test_row.py': py`
from csvlite import split_row, join_row


def test_split_simple():
    assert split_row("a,b,c") == ["a", "b", "c"]


def test_split_empty_fields():
    assert split_row("a,,c") == ["a", "", "c"]


def test_join_quotes():
    assert join_row(["a", "b,c"]) == 'a,"b,c"'
`,
    },
    gold: [{ file: 'csvlite/row.py', find: py`
    """Split one CSV line into fields."""
    return line.split(",")
`, replace: py`
    """Split one CSV line into fields (RFC 4180 quoting)."""
    fields, current, in_quotes, i = [], [], False, 0
    while i < len(line):
        ch = line[i]
        if in_quotes:
            if ch == '"' and line[i + 1 : i + 2] == '"':
                current.append('"')
                i += 1
            elif ch == '"':
                in_quotes = False
            else:
                current.append(ch)
        elif ch == '"':
            in_quotes = True
        elif ch == ",":
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    fields.append("".join(current))
    return fields
` }],
    tests: [{ file: 'tests/test_row.py', append: py`


def test_split_quoted_comma():
    assert split_row('1,"Smith, John",42') == ["1", "Smith, John", "42"]


def test_split_doubled_quote():
    assert split_row('"say ""hi""",x') == ['say "hi"', "x"]


def test_round_trip():
    fields = ["a", "b,c", 'd"e']
    assert split_row(join_row(fields)) == fields
` }],
    failToPass: ['tests/test_row.py::test_split_quoted_comma', 'tests/test_row.py::test_split_doubled_quote', 'tests/test_row.py::test_round_trip'],
    passToPass: ['tests/test_row.py::test_split_simple', 'tests/test_row.py::test_split_empty_fields', 'tests/test_row.py::test_join_quotes'],
  },
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
