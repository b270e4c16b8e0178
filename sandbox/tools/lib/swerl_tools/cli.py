"""Entry point of every tool in bin/: run it, print its observation and the prompt line."""
import sys

from . import state as st
from .edit import edit
from .run import run
from .search import search_file
from .submit import submit
from .window import ToolError, create, goto, open_file, scroll


def prompt(state, args):
    if args == ["--message"]:
        # a host-side observation (e.g. a format error) presented like any tool output
        return sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    if args:
        raise ToolError("Usage: _swerl_prompt [--message]  (message on stdin)")
    return ""


TOOLS = {
    "open": open_file,
    "goto": goto,
    "scroll_up": lambda state, args: scroll(state, args, -1),
    "scroll_down": lambda state, args: scroll(state, args, +1),
    "create": create,
    "edit": edit,
    "search_file": search_file,
    "submit": submit,
    "_swerl_prompt": prompt,
}


def main(name, args):
    state = st.enter()
    try:
        if name == "_swerl_run":
            text, status, after = run(state, args)
            return st.finish(after, text, status)
        return st.finish(state, TOOLS[name](state, args))
    except ToolError as e:
        return st.finish(state, str(e), 1)
    except (OSError, UnicodeError, ValueError) as e:
        # e.g. a permission error on the open file: still an observation the agent can act on
        return st.finish(state, "Error: {}: {}".format(name, e), 1)
