"""search_file <pattern> [file]: literal (not regex) search in one file, the open one by default."""
import os

from . import state as st
from .window import ToolError, current, display, read_lines

MAX_MATCHES = 100


def search_file(state, args):
    if len(args) not in (1, 2) or args[0] == "":
        raise ToolError("Usage: search_file <pattern> [<file>]")
    pattern = args[0]
    if len(args) == 2:
        path = st.abspath(args[1])
        if not os.path.exists(path):
            raise ToolError("Error: File name {} not found. Please provide a valid file name.".format(path))
        if os.path.isdir(path):
            raise ToolError("Error: {} is a directory; search_file searches one file. "
                            "Use grep -rn to search a directory.".format(path))
    else:
        path = current(state)
    hits = [(i, line) for i, line in enumerate(read_lines(path), 1) if pattern in line]
    if not hits:
        return 'No matches found for "{}" in {}\n'.format(pattern, path)
    if len(hits) > MAX_MATCHES:
        return ('More than {} lines matched for "{}" in {} ({} lines). Please narrow your search.\n'
                .format(MAX_MATCHES, pattern, path, len(hits)))
    out = ['Found {} matches for "{}" in {}:'.format(len(hits), pattern, path)]
    out.extend("Line {}:{}".format(i, display(line)) for i, line in hits)
    out.append('End of matches for "{}" in {}'.format(pattern, path))
    return "\n".join(out) + "\n"
