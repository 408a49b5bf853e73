"""The stage-line helper of long commands (``atomnet analyze``, ``atomnet export``): lines only on a terminal,
none into a pipe or file, none with ``--no-progress``. The commands themselves are tested on a real
pseudo-terminal in ``test_analyze.py``."""

from __future__ import annotations

import io
import os
import pty

from atomnet.cli._progress import Stages, is_terminal


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stage_lines_on_a_terminal() -> None:
    out = _Tty()
    s = Stages("analyze", 4, stream=out)
    s("operator efficiency")
    s("latency model")
    s.note("detail")
    s("writing the report", last=True)
    s.done()
    lines = out.getvalue().splitlines()
    assert lines[:4] == ["atomnet analyze [1/4] operator efficiency …", "atomnet analyze [2/4] latency model …",
                         "    detail", "atomnet analyze [4/4] writing the report …"]
    assert lines[4].startswith("atomnet analyze: done in ") and lines[4].endswith(" s") and len(lines) == 5


def test_more_stages_than_planned_raise_the_total() -> None:
    out = _Tty()
    s = Stages("export", 1, stream=out)
    s("a")
    s("b")
    assert out.getvalue().splitlines() == ["atomnet export [1/1] a …", "atomnet export [2/2] b …"]


def test_silent_off_a_terminal_and_with_no_progress() -> None:
    for stream, enabled in ((io.StringIO(), True), (_Tty(), False)):
        s = Stages("analyze", 2, stream=stream, enabled=enabled)
        s("x")
        s.note("y")
        s.done()
        assert stream.getvalue() == ""


def test_is_terminal_on_a_real_pty_and_a_pipe() -> None:
    master, slave = pty.openpty()
    r, w = os.pipe()
    try:
        with open(slave, "w", closefd=False) as t, open(w, "w", closefd=False) as p:
            assert is_terminal(t) and not is_terminal(p)
        closed = io.StringIO()
        closed.close()
        assert not is_terminal(closed) and not is_terminal(object())
    finally:
        for fd in (master, slave, r, w):
            os.close(fd)
