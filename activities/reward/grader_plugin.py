"""swerl's grader: a pytest plugin that reports every test phase over a private channel.

Loaded with `-p` under a per-run module name from a root-owned directory, before any of the
agent's code is imported. On import it keeps the exec's stdout for itself (a private, non-inheritable
copy) and points fd 1 and 2 at the run's log file, so nothing the code under test prints, and no
process it starts, can write into the report or hold the report stream open. There is no report
file: the host reads the frames from the exec's stdout once the process has exited.

Frames are JSON lines: {"event": "start"}, one {"event": "report", ...} per test phase, and
{"event": "finish", "exitstatus": N} when the session ends normally. A run that started but never
finished was ended by the code under test (os._exit, a signal, the OOM killer).
"""
import json
import os

_REPORT_FD = os.dup(1)  # os.dup returns a non-inheritable descriptor: subprocesses do not get it
_log = os.open(os.environ["SWERL_GRADER_LOG"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.dup2(_log, 1)
os.dup2(_log, 2)
os.close(_log)


def _emit(frame):
    data = (json.dumps(frame) + "\n").encode("utf-8", "replace")
    while data:
        data = data[os.write(_REPORT_FD, data):]


_emit({"event": "start"})


def pytest_runtest_logreport(report):
    _emit({
        "event": "report",
        "nodeid": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "xfail": bool(getattr(report, "wasxfail", None) is not None and report.skipped),
        "duration": float(getattr(report, "duration", 0.0) or 0.0),
    })


def pytest_sessionfinish(session, exitstatus):
    _emit({"event": "finish", "exitstatus": int(exitstatus)})
