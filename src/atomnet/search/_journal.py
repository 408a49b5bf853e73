"""Append-only journal of evaluated candidates (one JSON object per line), so a killed search resumes.

The first line is a header describing the run (strategy, seed, space, limits, fitness); each further
line is one evaluation in the order the strategy asked for it. Resuming re-runs the strategy from its
seed and answers the first ``len(journal)`` evaluations from the journal instead of recomputing them:
the seeded random decisions and the journaled results are the same, so the resumed run follows the
uninterrupted one exactly (Optuna's ``JournalStorage`` idea). A line cut by a kill is discarded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class JournalMismatch(ValueError):
    """The journal on disk belongs to another run configuration."""


class Journal:
    def __init__(self, path: str | os.PathLike[str] | None, header: dict[str, Any]) -> None:
        self.path = Path(path) if path else None
        self.header = header
        self.entries: list[dict[str, Any]] = []
        self._cursor = 0
        self._fh: Any = None
        if self.path is None:
            return
        if self.path.exists() and self.path.stat().st_size > 0:
            self._load()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w") as f:
                f.write(json.dumps({"header": header}, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
        self._fh = open(self.path, "a")  # kept open for appends; closed in close()

    def _load(self) -> None:
        assert self.path is not None
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        complete = lines[:-1]  # the part after the last newline is an interrupted write
        if lines[-1]:
            with open(self.path, "r+b") as f:  # drop the torn line so appends start clean
                f.truncate(len(raw) - len(lines[-1]))
        if not complete:
            raise JournalMismatch(f"{self.path}: journal without a header line")
        try:
            head = json.loads(complete[0])["header"]
        except (ValueError, KeyError) as e:
            raise JournalMismatch(f"{self.path}:1: not an atomnet search journal ({e})") from None
        if head != json.loads(json.dumps(self.header, sort_keys=True)):
            diff = sorted(k for k in set(head) | set(self.header) if head.get(k) != self.header.get(k))
            raise JournalMismatch(f"{self.path}: journal was written by another run (differs in {', '.join(diff)});"
                                  " use a new --journal file or the same options")
        for n, line in enumerate(complete[1:], start=2):
            try:
                self.entries.append(json.loads(line))
            except ValueError:
                raise JournalMismatch(f"{self.path}:{n}: corrupt journal line") from None

    @property
    def replaying(self) -> bool:
        return self._cursor < len(self.entries)

    def next_replayed(self) -> dict[str, Any]:
        e = self.entries[self._cursor]
        self._cursor += 1
        return e

    def append(self, entry: dict[str, Any]) -> None:
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
