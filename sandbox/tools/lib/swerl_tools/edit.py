"""edit <start> <end>: replace lines start..end of the open file with stdin. Python files are
syntax-checked first, and an edit that breaks a file that compiled before is not applied."""
import sys
import warnings

from . import state as st
from .window import ToolError, current, first_for, numbered, read_lines, render

CONTEXT = 5  # lines of context around the edited region in a rejected-edit report

APPLIED = ("File updated. Please review the changes and make sure they are correct "
           "(correct indentation, no duplicate lines, etc). Edit the file again if necessary.\n")


def edit(state, args):
    if len(args) != 2 or not all(a.isdigit() for a in args):
        raise ToolError("Usage: edit <start_line>:<end_line>, then the replacement lines, then end_of_edit")
    start, end = int(args[0]), int(args[1])
    path = current(state)
    replacement = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    lines = read_lines(path)
    total = len(lines)
    if not 1 <= start <= end <= max(total, 1):
        raise ToolError(
            "Error: edit range {}:{} is out of range: the file has {} lines, so 1 <= start <= end <= {} "
            "is required. Nothing was changed.".format(start, end, total, max(total, 1)))
    crlf = bool(lines) and lines[0].endswith("\r\n")
    parts = replacement.split("\n")
    if parts[-1] == "":
        parts.pop()  # the text's final newline ends its last line; it is not an extra empty line
    new_lines = [p + ("\r\n" if crlf else "\n") for p in parts]
    updated = lines[:start - 1] + new_lines + lines[end:]
    old_src = "".join(lines).encode("utf-8", "surrogateescape")
    new_src = "".join(updated).encode("utf-8", "surrogateescape")
    if path.endswith(".py"):
        err = syntax_error(new_src, path)
        if err is not None and syntax_error(old_src, path) is None:
            raise ToolError(rejected(err, lines, updated, start, end, len(new_lines)))
    with open(path, "wb") as f:
        f.write(new_src)
    text, first = render(path, updated, first_for(start))
    state["first_line"] = first
    st.save(state)
    return text + APPLIED


def syntax_error(source, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. invalid escape sequences: not our business here
        try:
            compile(source, path, "exec", dont_inherit=True)
        except SyntaxError as e:
            return "line {}: {}: {}".format(e.lineno, type(e).__name__, e.msg)
        except ValueError as e:  # null bytes
            return "{}: {}".format(type(e).__name__, e)
    return None


def rejected(err, old, new, start, end, n_new):
    def snippet(lines, last_edited):
        a = max(1, start - CONTEXT)
        b = min(len(lines), max(last_edited, start) + CONTEXT)
        return "\n".join(numbered(lines, a, b))
    return "\n".join([
        "Your proposed edit has introduced new syntax error(s). Please read this error message carefully "
        "and then retry editing the file.",
        "",
        "ERRORS:",
        "- " + err,
        "",
        "This is how your edit would have looked if applied",
        "-------------------------------------------------",
        snippet(new, start + n_new - 1),
        "-------------------------------------------------",
        "",
        "This is the original code before your edit",
        "-------------------------------------------------",
        snippet(old, end),
        "-------------------------------------------------",
        "Your changes have NOT been applied. Please fix your edit command and try again.",
        "",
    ])
