"""Errors of :mod:`atomnet.export` (importable without torch)."""

from __future__ import annotations

from collections.abc import Iterable

#: problems quoted in a :class:`TFLiteError` message (all of them stay in ``.problems``)
from atomnet.errors import InputError

SHOWN_PROBLEMS = 4


class ExportError(RuntimeError, InputError):
    """The conversion failed or produced a model that is not fully int8 (the message says which operator)."""


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (control characters escaped), cut to ``limit`` characters."""
    s = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in " ".join(str(text).split()))
    return s if len(s) <= limit else s[: limit - 1] + "…"


class TFLiteError(InputError):
    """A ``.tflite`` file that atomnet refuses: unreadable, corrupt, inconsistent (see
    :func:`atomnet.export.validate_tflite`), or one that crashed the TFLite Micro interpreter.

    ``path`` is the file, ``problems`` every problem found; ``str(e)`` is one line naming the file and the
    first few problems. A ``ValueError``, so the CLI prints it as ``atomnet: error: …`` (exit status 2)."""

    def __init__(self, path: str, problems: Iterable[str]) -> None:
        self.path = str(path)
        self.problems = tuple(one_line(p) for p in problems) or ("invalid TFLite file",)
        super().__init__(self._message())

    def _message(self) -> str:
        ps = self.problems
        if len(ps) == 1:
            return f"{self.path}: {ps[0]}"
        shown = "; ".join(ps[:SHOWN_PROBLEMS])
        more = f"; and {len(ps) - SHOWN_PROBLEMS} more" if len(ps) > SHOWN_PROBLEMS else ""
        return f"{self.path}: {len(ps)} problems: {shown}{more}"

    def __reduce__(self) -> tuple[type[TFLiteError], tuple[str, tuple[str, ...]]]:
        return type(self), (self.path, self.problems)
