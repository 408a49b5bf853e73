"""Progress of a long command as a line per stage on stderr, e.g. ``atomnet analyze [2/5] block rankings …``,
written only when stderr is a terminal (a pipe, a file or a test's capture gets nothing) and not with
``--no-progress``. Not a command module: any command may use it (``search``, ``train`` and ``db measure`` draw
tqdm bars under the same rule)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def add_progress_flag(p: Any) -> None:
    """The ``--no-progress`` option of a command that uses :class:`Stages`."""
    p.add_argument("--no-progress", action="store_true",
                   help="no stage lines on stderr (they are written only when stderr is a terminal)")


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


class Stages:
    """``stages("fitting …")`` announces the next of ``total`` stages; ``note`` adds an indented line to the
    current one; ``done`` says the total time. Silent unless ``enabled`` and ``stream`` is a terminal."""

    def __init__(self, command: str, total: int, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and is_terminal(self.stream)
        self.command, self.total, self.step = command, total, 0
        self.t0 = time.perf_counter()

    def __call__(self, text: str, *, last: bool = False) -> None:
        """Announce the next stage (``last=True``: the final one, after stages that did not apply were skipped)."""
        self.step = self.total if last else self.step + 1
        self.total = max(self.total, self.step)
        self._write(f"atomnet {self.command} [{self.step}/{self.total}] {text} …")

    def note(self, text: str) -> None:
        self._write(f"    {text}")

    def done(self) -> None:
        self._write(f"atomnet {self.command}: done in {time.perf_counter() - self.t0:.1f} s")

    def _write(self, line: str) -> None:
        if self.enabled:
            print(line, file=self.stream, flush=True)


class Bars:
    """tqdm progress bars on stderr, one per phase (silent when stderr is not a terminal): ``bars(phase, done,
    total)`` is the ``progress`` callback of :func:`atomnet.search.run_search`."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and is_terminal(sys.stderr)
        self.bars: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(phase)
        if bar is None:
            desc = {"tables": "cost tables", "search": "search"}.get(phase, phase)
            bar = self.bars[phase] = tqdm(total=total, desc=desc, unit="", leave=False, file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    def close(self) -> None:
        for b in self.bars.values():
            b.close()
