"""Append-only journal of evaluated candidates (one JSON object per line), so a killed search resumes.

The first line is a header describing the run: everything its evaluations depend on (space, limits,
board, runtime, strategy options, seed, latency source and its content fingerprint; see
:mod:`atomnet.search._provenance`). Each further line is one evaluation in the order the strategy asked
for it (an :class:`~atomnet.search.Evaluation`: ``i``, ``res``, ``choices``, ``metrics``, ``feasible``,
``fitness``; lines written before also carry a ``score``, ignored). Resuming re-runs the strategy from its
seed; the runner's evaluator (:class:`~atomnet.search.JournaledEvaluator`) answers the first
``len(journal)`` evaluations from the journal instead of recomputing them: the seeded random decisions and
the journaled results are the same, so the resumed run follows the uninterrupted one exactly (Optuna's
``JournalStorage`` idea).
A journal whose header differs from this run's is refused, naming what changed. A line cut by a kill is
discarded; blank lines are skipped; any other line that is not an evaluation is an error naming it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from atomnet.errors import InputError
from atomnet.jsontypes import JSONDict
from atomnet.search._provenance import describe_mismatch
from atomnet.search._records import EVALUATION_KEYS, Evaluation


def _evaluation(entry: JSONDict) -> None:
    Evaluation.from_json(entry)


class JournalMismatch(InputError):
    """The journal on disk belongs to another run configuration, is not a journal, or was written by code that
    asks for other evaluations."""


class Journal:
    """``Journal(path, header)`` opens (or creates) the journal at ``path``; ``path=None`` keeps it in memory.

    Lines are :class:`~atomnet.search.Evaluation` objects by default (``entry_keys`` and ``check``, which
    raises on a line it refuses, say otherwise)."""

    def __init__(self, path: str | os.PathLike[str] | None, header: Mapping[str, object],
                 entry_keys: Collection[str] = EVALUATION_KEYS,
                 check: Callable[[JSONDict], None] | None = _evaluation) -> None:
        self.path = Path(path) if path else None
        self.header: JSONDict = json.loads(json.dumps(header, sort_keys=True))  # as it reads back from disk
        self.entry_keys = frozenset(entry_keys)
        self.check = check
        self.entries: list[JSONDict] = []
        self._cursor = 0
        self._fh: Any = None
        if self.path is None:
            return
        if not (self.path.exists() and self.path.stat().st_size > 0 and self._load()):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w") as f:
                f.write(json.dumps({"header": self.header}, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
        self._fh = open(self.path, "a")  # kept open for appends; closed in close()

    def _load(self) -> bool:
        """Read the journal; False when it holds nothing but blank space or a torn first line (start anew)."""
        assert self.path is not None
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        if lines[-1]:  # the part after the last newline is an interrupted write: drop it so appends start clean
            with open(self.path, "r+b") as f:
                f.truncate(len(raw) - len(lines[-1]))
        numbered = [(n, line) for n, line in enumerate(lines[:-1], start=1) if line.strip()]
        if not numbered:
            return False
        n0, first = numbered[0]
        try:
            d = json.loads(first)
            head = d["header"] if isinstance(d, dict) else None
        except (ValueError, KeyError):
            head = None
        if not isinstance(head, dict):
            raise JournalMismatch(f"{self.path}:{n0}: not an atomnet search journal (the first line must be an "
                                  f"object {{\"header\": {{…}}}}, got {_clip(first)}); use a new --journal file")
        why = describe_mismatch(str(self.path), head, self.header)
        if why is not None:
            raise JournalMismatch(why)
        for n, line in numbered[1:]:
            try:
                e = json.loads(line)
            except ValueError:
                raise JournalMismatch(f"{self.path}:{n}: corrupt journal line (not JSON: {_clip(line)}); "
                                      "use a new --journal file") from None
            missing = sorted(self.entry_keys - set(e)) if isinstance(e, dict) else None
            if missing is None or missing:
                what = f"missing {', '.join(missing)}" if missing else f"got {_clip(line)}"
                raise JournalMismatch(f"{self.path}:{n}: not an evaluation (expected an object with "
                                      f"{', '.join(sorted(self.entry_keys))}; {what}); use a new --journal file")
            if self.check is not None:
                try:
                    self.check(e)
                except (TypeError, ValueError) as err:
                    raise JournalMismatch(f"{self.path}:{n}: not an evaluation ({err}); use a new --journal file"
                                          ) from None
            if "i" in self.entry_keys and e["i"] != len(self.entries):
                raise JournalMismatch(f"{self.path}:{n}: evaluation number {e['i']!r}, expected "
                                      f"{len(self.entries)} (lines out of order or duplicated); use a new --journal "
                                      "file")
            self.entries.append(e)
        return True

    @property
    def position(self) -> int:
        """Number of the next evaluation (replayed or appended)."""
        return self._cursor

    @property
    def replaying(self) -> bool:
        return self._cursor < len(self.entries)

    def next_replayed(self) -> JSONDict:
        e = self.entries[self._cursor]
        self._cursor += 1
        return e

    def append(self, entry: JSONDict) -> None:
        self.entries.append(entry)
        self._cursor = len(self.entries)
        if self._fh is not None:
            self._fh.write(json.dumps(entry, sort_keys=True) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _clip(line: bytes) -> str:
    text = line.decode("utf-8", "replace").strip()
    return repr(text if len(text) <= 40 else text[:40] + "…")
