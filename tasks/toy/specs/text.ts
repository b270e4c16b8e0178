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
];
