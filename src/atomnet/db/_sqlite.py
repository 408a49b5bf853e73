"""SQLite plumbing of AtomDB: how a file is opened, bounded waits on a busy database, who holds it.

* **Readers never write.** A read-only :class:`~atomnet.db.AtomDB` opens an existing file (``mode=rw``
  without create, so that SQLite can clean up its WAL files on close) with ``PRAGMA query_only``; it
  never begins a write transaction. In WAL mode a reader sees the last committed state while another
  process writes.
* **Writers wait, boundedly.** Every write transaction is ``BEGIN IMMEDIATE`` with a busy wait of
  ``$ATOMNET_DB_TIMEOUT`` seconds (default 30). When the wait runs out, the error says which process holds
  the write lock: on Linux it is read from ``/proc/locks`` (SQLite's write lock is a POSIX lock on byte 120
  of the ``-shm`` file in WAL mode, on the RESERVED byte of the database file otherwise).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from atomnet.errors import InputError

DEFAULT_BUSY_TIMEOUT_S = 30.0
TIMEOUT_ENV = "ATOMNET_DB_TIMEOUT"
_WAL_WRITE_LOCK_BYTE = 120  # WALINDEX_LOCK_OFFSET + WAL_WRITE_LOCK (sqlite3 wal.c)
_RESERVED_BYTE = 0x40000001  # PENDING_BYTE + 1 (rollback-journal mode)


class DatabaseBusyError(RuntimeError, InputError):
    """Another process held the database's write lock for longer than the busy timeout."""


def busy_timeout_s(explicit: float | None = None) -> float:
    """The busy wait of writers: ``explicit``, else ``$ATOMNET_DB_TIMEOUT`` (seconds), else 30 s."""
    if explicit is not None:
        return float(explicit)
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_BUSY_TIMEOUT_S
    try:
        v = float(raw)
    except ValueError:
        v = float("nan")
    if not 0 <= v < 1e6:
        raise InputError(f"${TIMEOUT_ENV}={raw!r}: expected seconds to wait for a busy database, e.g. 30")
    return v


def is_busy(e: sqlite3.Error) -> bool:
    msg = str(e).lower()
    return isinstance(e, sqlite3.OperationalError) and ("locked" in msg or "busy" in msg)


def connect(path: str, *, create: bool, timeout_s: float) -> sqlite3.Connection:
    """A connection in autocommit mode (explicit transactions only); never creates the file unless ``create``."""
    if path == ":memory:" or create:
        return sqlite3.connect(path, isolation_level=None, timeout=timeout_s)
    uri = Path(os.path.abspath(path)).as_uri() + "?mode=rw"
    return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout_s)


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    text = " ".join(a.decode(errors="replace") for a in raw.split(b"\0") if a)
    return text if len(text) <= 160 else text[:157] + "..."


def lock_holders(path: str) -> list[int]:
    """Processes holding the write lock of the SQLite file ``path`` (Linux ``/proc/locks``; [] elsewhere)."""
    targets: dict[tuple[int, int, int], int] = {}  # (major, minor, inode) -> lock byte
    for p, byte in ((path + "-shm", _WAL_WRITE_LOCK_BYTE), (path, _RESERVED_BYTE)):
        try:
            st = os.stat(p)
        except OSError:
            continue
        targets[(os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)] = byte
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    out: list[int] = []
    for line in lines:
        f = line.split()
        if "->" in f:  # a waiter ("1: -> POSIX ..."), not a holder
            continue
        try:
            i = f.index("POSIX") if "POSIX" in f else f.index("OFDLCK")
            kind, pid, dev = f[i + 2], int(f[i + 3]), f[i + 4].split(":")
            major, minor, ino = int(dev[0], 16), int(dev[1], 16), int(dev[2])
            start, end = int(f[i + 5]), (int(f[i + 6]) if f[i + 6] != "EOF" else 1 << 62)
        except (ValueError, IndexError):
            continue
        byte = targets.get((major, minor, ino), -1)
        if kind == "WRITE" and byte >= 0 and start <= byte <= end and pid > 0 and pid != os.getpid():
            out.append(pid)
    return sorted(set(out))


def busy_error(path: str, timeout_s: float, what: str = "write") -> DatabaseBusyError:
    pids = lock_holders(path)
    if pids:
        who = ", ".join(f"process {pid}" + (f" ({c})" if (c := _cmdline(pid)) else "") for pid in pids)
        holder = f"{who} holds its write lock"
    else:
        holder = "another process holds its write lock (could not tell which)"
    return DatabaseBusyError(f"{path}: database busy: {holder}; waited {timeout_s:g} s to {what}. Retry when it "
                             f"is done, or wait longer with ${TIMEOUT_ENV}=SECONDS")


class Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on an exception); a busy wait that runs out is a
    :class:`DatabaseBusyError` naming the lock holder."""

    def __init__(self, conn: sqlite3.Connection, path: str, timeout_s: float) -> None:
        self.conn, self.path, self.timeout_s = conn, path, timeout_s

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if is_busy(e):
                raise busy_error(self.path, self.timeout_s) from None
            raise
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            return
        try:
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as e:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if is_busy(e):
                raise busy_error(self.path, self.timeout_s, "commit") from None
            raise
