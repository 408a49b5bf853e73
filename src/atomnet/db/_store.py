"""AtomDB: the SQLite store of measured atom operators.

One file per user holds raw measurements of any number of boards. Every raw row is kept with its
provenance (board, runtime and version, clock, source file and its SHA-256, import time); per-key
aggregates (median — the default —, min, max, count, relative spread) are maintained in ``op_stats``
after every import. The schema version is stored in ``meta``; opening a file of another version
raises :class:`SchemaError`.

>>> db = AtomDB(":memory:")
>>> db.schema_version
1
"""

from __future__ import annotations

import datetime as _dt
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atomnet import __version__
from atomnet.db._import_csv import ParsedFile, ParsedRow, parse_atomnet_csv, parse_atomnet_se_csv
from atomnet.ops import KEY_FIELDS, KIND_ID, KINDS, Op

SCHEMA_VERSION = 1
_KEYCOLS = ", ".join(KEY_FIELDS)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    board TEXT NOT NULL, runtime TEXT NOT NULL, runtime_version TEXT NOT NULL, clock_mhz REAL,
    format TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, imported_at TEXT NOT NULL,
    atomnet_version TEXT NOT NULL, rows INTEGER NOT NULL, skipped INTEGER NOT NULL,
    UNIQUE (board, sha256)
);
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id),
    line INTEGER,
    board TEXT NOT NULL, kind INTEGER NOT NULL,
    c_in INTEGER NOT NULL, h_in INTEGER NOT NULL, w_in INTEGER NOT NULL,
    c_out INTEGER NOT NULL, h_out INTEGER NOT NULL, w_out INTEGER NOT NULL,
    kernel INTEGER NOT NULL, stride INTEGER NOT NULL, groups INTEGER NOT NULL,
    macc INTEGER, flash_bytes INTEGER, sram_bytes INTEGER,
    latency_ms REAL NOT NULL,
    outlier INTEGER NOT NULL DEFAULT 0,
    campaign_key TEXT
);
CREATE INDEX IF NOT EXISTS measurements_key ON measurements (board, kind, {_KEYCOLS});
CREATE UNIQUE INDEX IF NOT EXISTS measurements_campaign ON measurements (board, campaign_key)
    WHERE campaign_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS op_stats (
    board TEXT NOT NULL, kind INTEGER NOT NULL,
    c_in INTEGER NOT NULL, h_in INTEGER NOT NULL, w_in INTEGER NOT NULL,
    c_out INTEGER NOT NULL, h_out INTEGER NOT NULL, w_out INTEGER NOT NULL,
    kernel INTEGER NOT NULL, stride INTEGER NOT NULL, groups INTEGER NOT NULL,
    n INTEGER NOT NULL, median_ms REAL NOT NULL, min_ms REAL NOT NULL, max_ms REAL NOT NULL,
    spread REAL NOT NULL, flash_bytes INTEGER, sram_bytes INTEGER,
    PRIMARY KEY (board, kind, {_KEYCOLS})
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS predictors (
    board TEXT PRIMARY KEY, json TEXT NOT NULL, fitted_at TEXT NOT NULL
);
"""


class SchemaError(RuntimeError):
    """The database file has another schema version than this atomnet understands."""


@dataclass(frozen=True)
class ImportResult:
    path: str
    board: str
    format: str
    added: int
    skipped_empty: int
    skipped_by_type: dict[str, int]
    already_imported: bool
    rows_by_kind: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class OpStat:
    """Aggregate of the repeated measurements of one operator key."""

    op: Op
    n: int
    median_ms: float
    min_ms: float
    max_ms: float
    spread: float  # (max - min) / median
    flash_bytes: int | None
    sram_bytes: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op.to_dict(), "n": self.n, "median_ms": self.median_ms, "min_ms": self.min_ms,
                "max_ms": self.max_ms, "spread": self.spread, "flash_bytes": self.flash_bytes,
                "sram_bytes": self.sram_bytes}


AGGREGATES = ("median", "min", "max")


class AtomDB:
    """A connection to one AtomDB SQLite file (created on first use)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions only
            self.conn.execute("PRAGMA foreign_keys = ON")
            mode = "WAL" if self.path != ":memory:" else "MEMORY"
            self.conn.execute(f"PRAGMA journal_mode = {mode}")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            version = self._read_version()
        except sqlite3.DatabaseError as e:
            raise SchemaError(f"{self.path}: not an AtomDB SQLite file ({e})") from e
        if version is None:
            with self.transaction():
                self._create_tables()
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('created_by', ?)", (f"atomnet {__version__}",))
        elif version == SCHEMA_VERSION:
            with self.transaction():  # tables added within version 1 (all statements are IF NOT EXISTS)
                self._create_tables()
        else:
            raise SchemaError(f"{self.path}: AtomDB schema version {version}, but this atomnet reads version "
                              f"{SCHEMA_VERSION}; export it with the atomnet that wrote it "
                              f"(`atomnet db export`) and import the CSV here")

    # ---- plumbing -------------------------------------------------------------------------
    def _create_tables(self) -> None:
        for stmt in _SCHEMA.split(";"):  # executescript would commit the caller's open transaction
            if stmt.strip():
                self.conn.execute(stmt)

    def _read_version(self) -> int | None:
        has_meta = self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            tables = self.conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
            if tables:
                raise SchemaError(f"{self.path}: SQLite file without an AtomDB 'meta' table; not an AtomDB")
            return None
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else None

    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    @property
    def schema_version(self) -> int:
        v = self._read_version()
        assert v is not None
        return v

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> AtomDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- import ---------------------------------------------------------------------------
    def import_atomnet_csv(self, path: str | os.PathLike[str], *, board: str, runtime: str = "x-cube-ai",
                           runtime_version: str = "7.2", clock_mhz: float | None = 400.0) -> ImportResult:
        """Import a public ``atomdb.csv`` (either revision) in one transaction; idempotent by file hash."""
        return self._import_parsed(parse_atomnet_csv(Path(path)), board, runtime, runtime_version, clock_mhz)

    def import_atomnet_se_csv(self, path: str | os.PathLike[str], *, board: str, runtime: str = "x-cube-ai",
                              runtime_version: str = "7.2", clock_mhz: float | None = 400.0) -> ImportResult:
        """Import ``atomdb_se.csv`` (whole SE modules) in one transaction; idempotent by file hash."""
        return self._import_parsed(parse_atomnet_se_csv(Path(path)), board, runtime, runtime_version, clock_mhz)

    def _import_parsed(self, parsed: ParsedFile, board: str, runtime: str, runtime_version: str,
                       clock_mhz: float | None) -> ImportResult:
        counts: dict[str, int] = {}
        for r in parsed.rows:
            counts[r.op.kind] = counts.get(r.op.kind, 0) + 1
        exists = self.conn.execute("SELECT id FROM sources WHERE board=? AND sha256=?",
                                   (board, parsed.sha256)).fetchone()
        if exists:
            return ImportResult(str(parsed.path), board, parsed.fmt, 0, parsed.skipped_empty,
                                parsed.skipped_by_type, True, counts)
        with self.transaction():
            source_id = self.add_source(board=board, runtime=runtime, runtime_version=runtime_version,
                                        clock_mhz=clock_mhz, fmt=parsed.fmt, path=str(parsed.path),
                                        sha256=parsed.sha256, rows=len(parsed.rows), skipped=parsed.skipped_empty)
            self._insert_rows(source_id, board, parsed.rows)
            self._refresh_stats(board, {r.op.kind for r in parsed.rows})
        return ImportResult(str(parsed.path), board, parsed.fmt, len(parsed.rows), parsed.skipped_empty,
                            parsed.skipped_by_type, False, counts)

    def add_source(self, *, board: str, runtime: str, runtime_version: str, clock_mhz: float | None, fmt: str,
                   path: str, sha256: str, rows: int = 0, skipped: int = 0) -> int:
        """Register a provenance record (call inside a transaction); returns its id."""
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        cur = self.conn.execute(
            "INSERT INTO sources (board, runtime, runtime_version, clock_mhz, format, path, sha256, imported_at,"
            " atomnet_version, rows, skipped) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (board, runtime, runtime_version, clock_mhz, fmt, path, sha256, now, __version__, rows, skipped))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def _insert_rows(self, source_id: int, board: str, rows: Sequence[ParsedRow],
                     campaign_keys: Sequence[str | None] | None = None) -> None:
        keys = campaign_keys if campaign_keys is not None else [None] * len(rows)
        self.conn.executemany(
            f"INSERT INTO measurements (source_id, line, board, kind, {_KEYCOLS}, macc, flash_bytes, sram_bytes,"
            " latency_ms, campaign_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            ((source_id, r.line, board, *r.op.key, r.macc, r.flash_bytes, r.sram_bytes, r.latency_ms, ck)
             for r, ck in zip(rows, keys)))

    def add_measurements(self, source_id: int, board: str, rows: Sequence[ParsedRow],
                         campaign_keys: Sequence[str | None] | None = None) -> None:
        """Append measured rows (e.g. from a campaign) and refresh the aggregates, in one transaction."""
        with self.transaction():
            self._insert_rows(source_id, board, rows, campaign_keys)
            self._refresh_stats(board, {r.op.kind for r in rows}, only_keys={r.op.key for r in rows})

    # ---- aggregates -----------------------------------------------------------------------
    def _refresh_stats(self, board: str, kinds: Iterable[str], only_keys: set[tuple[int, ...]] | None = None) -> None:
        """Recompute per-key aggregates of ``board`` for ``kinds`` (inside the caller's transaction)."""
        if only_keys is not None:  # a campaign commit: re-aggregate just these keys (indexed lookups)
            self._refresh_keys(board, only_keys)
            return
        for kind in kinds:
            kid = KIND_ID[kind]
            rows = self.conn.execute(
                f"SELECT {_KEYCOLS}, latency_ms, flash_bytes, sram_bytes FROM measurements"
                f" WHERE board=? AND kind=? ORDER BY {_KEYCOLS}, latency_ms", (board, kid)).fetchall()
            if not rows:
                continue
            arr = np.array([r[:10] for r in rows], dtype=np.float64)
            keys = arr[:, :9].astype(np.int64)
            lat = arr[:, 9]
            change = np.any(keys[1:] != keys[:-1], axis=1)
            starts = np.concatenate(([0], np.nonzero(change)[0] + 1))
            ends = np.concatenate((starts[1:], [len(rows)]))
            out = []
            for s, e in zip(starts.tolist(), ends.tolist()):
                key = tuple(int(v) for v in keys[s])
                seg = lat[s:e]  # sorted by latency within the key
                med = float(np.median(seg))
                spread = float((seg[-1] - seg[0]) / med) if med > 0 else 0.0
                out.append((board, kid, *key, e - s, med, float(seg[0]), float(seg[-1]), spread,
                            rows[s][10], rows[s][11]))
            self.conn.execute("DELETE FROM op_stats WHERE board=? AND kind=?", (board, kid))
            self.conn.executemany(f"INSERT OR REPLACE INTO op_stats (board, kind, {_KEYCOLS}, n, median_ms, min_ms,"
                                  " max_ms, spread, flash_bytes, sram_bytes) VALUES (" + ",".join("?" * 18) + ")",
                                  out)

    def _refresh_keys(self, board: str, keys: set[tuple[int, ...]]) -> None:
        out = []
        for key in keys:
            rows = self.conn.execute(
                f"SELECT latency_ms, flash_bytes, sram_bytes FROM measurements WHERE board=? AND kind=? AND "
                f"({_KEYCOLS}) = (?,?,?,?,?,?,?,?,?) ORDER BY latency_ms", (board, *key)).fetchall()
            if not rows:
                continue
            lat = np.array([r[0] for r in rows])
            med = float(np.median(lat))
            spread = float((lat[-1] - lat[0]) / med) if med > 0 else 0.0
            out.append((board, *key, len(rows), med, float(lat[0]), float(lat[-1]), spread, rows[0][1], rows[0][2]))
        self.conn.executemany(f"INSERT OR REPLACE INTO op_stats (board, kind, {_KEYCOLS}, n, median_ms, min_ms,"
                              " max_ms, spread, flash_bytes, sram_bytes) VALUES (" + ",".join("?" * 18) + ")", out)

    # ---- queries --------------------------------------------------------------------------
    def boards(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT board FROM sources ORDER BY board")]

    def sources(self, board: str | None = None) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM sources" + (" WHERE board=?" if board else "") + " ORDER BY id",
                                (board,) if board else ())
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def lookup(self, op: Op, board: str) -> OpStat | None:
        """Exact aggregate of one operator, or None when it was never measured on ``board``."""
        r = self.conn.execute(
            "SELECT n, median_ms, min_ms, max_ms, spread, flash_bytes, sram_bytes FROM op_stats WHERE board=? AND"
            f" kind=? AND ({_KEYCOLS}) = (?,?,?,?,?,?,?,?,?)", (board, *op.key)).fetchone()
        return None if r is None else OpStat(op, *r)

    def raw_latencies(self, op: Op, board: str) -> list[float]:
        return [r[0] for r in self.conn.execute(
            f"SELECT latency_ms FROM measurements WHERE board=? AND kind=? AND ({_KEYCOLS}) = (?,?,?,?,?,?,?,?,?)"
            " ORDER BY latency_ms", (board, *op.key))]

    def table(self, board: str, aggregate: str = "median") -> OpTable:
        """All per-key aggregates of ``board`` in memory, for fast batch lookup."""
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate: expected one of {AGGREGATES}, got {aggregate!r}")
        rows = self.conn.execute(f"SELECT kind, {_KEYCOLS}, {aggregate}_ms, n FROM op_stats WHERE board=?",
                                 (board,)).fetchall()
        return OpTable(board, aggregate, {tuple(r[:10]): (r[10], r[11]) for r in rows})

    def samples(self, board: str, kind: str) -> dict[str, np.ndarray]:
        """Training data for predictors: one sample per distinct key (median latency), as columns."""
        rows = self.conn.execute(f"SELECT {_KEYCOLS}, median_ms, n FROM op_stats WHERE board=? AND kind=?"
                                 f" ORDER BY {_KEYCOLS}", (board, KIND_ID[kind])).fetchall()
        arr = np.array(rows, dtype=np.float64).reshape(-1, 11)
        out: dict[str, np.ndarray] = {f: arr[:, i].astype(np.int64) for i, f in enumerate(KEY_FIELDS)}
        out["latency_ms"] = arr[:, 9]
        out["n"] = arr[:, 10].astype(np.int64)
        return out

    def stats(self, board: str | None = None) -> dict[str, Any]:
        """Rows and keys per kind, repeat spread, sources: the object behind ``atomnet db stats --json``."""
        boards = [board] if board else self.boards()
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "path": self.path, "boards": {}}
        for b in boards:
            kinds: dict[str, Any] = {}
            for kid, rows in self.conn.execute(
                    "SELECT kind, count(*) FROM measurements WHERE board=? GROUP BY kind", (b,)):
                keys, rep, spread, med_spread = self.conn.execute(
                    "SELECT count(*), sum(n > 1), avg(CASE WHEN n > 1 THEN spread END),"
                    " avg(CASE WHEN n > 1 THEN (max_ms - min_ms) / 2 / median_ms END)"
                    " FROM op_stats WHERE board=? AND kind=?", (b, kid)).fetchone()
                kinds[KINDS[kid]] = {"rows": rows, "keys": keys, "repeated_keys": rep or 0,
                                     "mean_spread": spread, "mean_half_range_rel": med_spread}
            srcs = self.sources(b)
            out["boards"][b] = {"kinds": dict(sorted(kinds.items(), key=lambda kv: KIND_ID[kv[0]])),
                                "rows": sum(k["rows"] for k in kinds.values()),
                                "skipped_empty": sum(s["skipped"] for s in srcs),
                                "sources": srcs}
        return out

    def save_predictors(self, board: str, json_text: str) -> None:
        """Store the fitted predictors of ``board`` (plain JSON, see :mod:`atomnet.db._predict`)."""
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO predictors VALUES (?,?,?)", (board, json_text, now))

    def predictors_json(self, board: str) -> str | None:
        r = self.conn.execute("SELECT json FROM predictors WHERE board=?", (board,)).fetchone()
        return None if r is None else str(r[0])

    def has_board(self, board: str) -> bool:
        return self.conn.execute("SELECT 1 FROM op_stats WHERE board=? LIMIT 1", (board,)).fetchone() is not None

    def export_rows(self, board: str) -> list[tuple[Any, ...]]:
        """Raw rows of ``board`` in insertion order: (kind, key fields…, macc, flash, sram, latency)."""
        return self.conn.execute(
            f"SELECT kind, {_KEYCOLS}, macc, flash_bytes, sram_bytes, latency_ms FROM measurements WHERE board=?"
            " ORDER BY id", (board,)).fetchall()


class OpTable:
    """In-memory per-key aggregates of one board: vectorized exact lookup by :attr:`Op.key`."""

    def __init__(self, board: str, aggregate: str, entries: dict[tuple[int, ...], tuple[float, int]]) -> None:
        self.board, self.aggregate = board, aggregate
        self._lat = {k: v[0] for k, v in entries.items()}
        self._n = {k: v[1] for k, v in entries.items()}

    def __len__(self) -> int:
        return len(self._lat)

    def __contains__(self, op: Op) -> bool:
        return op.key in self._lat

    def get(self, op: Op) -> float | None:
        return self._lat.get(op.key)

    def count(self, op: Op) -> int:
        return self._n.get(op.key, 0)

    def lookup_keys(self, keys: Sequence[tuple[int, ...]]) -> np.ndarray:
        """Latency per key (NaN where the key was never measured)."""
        nan = float("nan")
        get = self._lat.get
        return np.fromiter((get(k, nan) for k in keys), dtype=np.float64, count=len(keys))

    def lookup(self, ops: Sequence[Op]) -> np.ndarray:
        return self.lookup_keys([op.key for op in ops])

    def keys(self) -> list[tuple[int, ...]]:
        return list(self._lat)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
