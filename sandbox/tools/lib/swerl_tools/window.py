"""File windows: open, goto, scroll_up, scroll_down, create. A window is WINDOW numbered lines."""
import os

from . import state as st

MAX_SHOWN_LINE = 2000  # a minified line must not flood the context; cat/sed can still show it whole


class ToolError(Exception):
    """An error observation for the agent (not an infrastructure failure)."""


def read_lines(path):
    """The file's lines with their line endings kept. surrogateescape makes decode/encode lossless."""
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data[:8192]:
        raise ToolError("Error: {} appears to be a binary file; open only shows text files.".format(path))
    text = data.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1] != "":
        out.append(lines[-1])
    return out


def check_file(path):
    if not os.path.exists(path):
        raise ToolError("Error: File {} not found".format(path))
    if os.path.isdir(path):
        raise ToolError(
            "Error: {} is a directory. You can only open files. Use cd or ls to navigate directories.".format(path))


def display(line):
    line = line.rstrip("\n")
    if line.endswith("\r"):
        line = line[:-1]
    if len(line) > MAX_SHOWN_LINE:
        line = line[:MAX_SHOWN_LINE] + " ... [{} more characters]".format(len(line) - MAX_SHOWN_LINE)
    return line


def clamp_first(first, total):
    return max(1, min(first, max(1, total - st.WINDOW + 1)))


def first_for(line):
    """The window start that shows `line` in the middle."""
    return max(1, line - st.WINDOW // 2)


def numbered(lines, first, last):
    return ["{}:{}".format(i, display(lines[i - 1])) for i in range(first, last + 1)]


def render(path, lines, first):
    total = len(lines)
    first = clamp_first(first, total)
    last = min(total, first + st.WINDOW - 1)
    out = ["[File: {} ({} lines total)]".format(path, total)]
    if first > 1:
        out.append("({} more lines above)".format(first - 1))
    out.extend(numbered(lines, first, last))
    if last < total:
        out.append("({} more lines below)".format(total - last))
    return "\n".join(out) + "\n", first


def show(state, path, first):
    check_file(path)
    lines = read_lines(path)
    text, first = render(path, lines, first)
    state["open_file"] = path
    state["first_line"] = first
    st.save(state)
    return text


def check_line(line, total):
    if line > total:
        raise ToolError("Error: line {} is out of range: the file has {} lines.".format(line, total))


def open_file(state, args):
    if len(args) not in (1, 2):
        raise ToolError("Usage: open <file> [<line_number>]")
    path = st.abspath(args[0])
    check_file(path)
    if len(args) == 1:
        return show(state, path, 1)
    if not args[1].isdigit() or int(args[1]) < 1:
        raise ToolError("Usage: open <file> [<line_number>] (line_number must be a positive integer)")
    line = int(args[1])
    check_line(line, len(read_lines(path)))
    return show(state, path, first_for(line))


def current(state):
    path = state["open_file"]
    if not path:
        raise ToolError("No file open. Use the open command first.")
    if not os.path.isfile(path):
        raise ToolError("Error: the open file {} no longer exists. Open another file.".format(path))
    return path


def goto(state, args):
    if len(args) != 1 or not args[0].isdigit() or int(args[0]) < 1:
        raise ToolError("Usage: goto <line_number> (a positive integer)")
    path = current(state)
    line = int(args[0])
    check_line(line, len(read_lines(path)))
    return show(state, path, first_for(line))


def scroll(state, args, direction):
    if args:
        raise ToolError("Usage: scroll_{} (no arguments)".format("down" if direction > 0 else "up"))
    path = current(state)
    return show(state, path, state["first_line"] + direction * st.WINDOW)


def create(state, args):
    if len(args) != 1:
        raise ToolError("Usage: create <file>")
    path = st.abspath(args[0])
    if os.path.lexists(path):
        return "Error: File '{}' already exists.\n".format(path) + show(state, path, 1)
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
        with open(path, "w") as f:
            f.write("\n")  # one empty line, as SWE-agent does, so `edit 1:1` fills the new file
    except OSError as e:
        raise ToolError("Error: cannot create {}: {}".format(path, e.strerror or e))
    return show(state, path, 1)
