"""AtomDB: the SQLite store of measured atom operators.

One file per user holds raw measurements of any number of boards. Every raw row is kept with its
provenance (board, runtime and version, clock, source file and its SHA-256, import time); per-key
aggregates (median — the default —, min, max, count, relative spread) are maintained in ``op_stats``
after every import. The schema version is stored in ``meta``; opening a file of another version
raises :class:`SchemaError`.

Opening (see :mod:`atomnet.db._sqlite` for the locking): ``AtomDB(path)`` creates the file when it is
missing (the library default); ``create=False`` refuses a missing file (:class:`NoDatabaseError`);
``readonly=True`` never creates or writes anything and never takes the write lock, so it reads while
another process writes. The schema is created under the write lock, re-checked there, so two processes
creating the same new file at once both end with one valid AtomDB. Every import is one transaction over
all the files of the call and checks "already imported" (same board and SHA-256) under the lock, so two
processes importing the same file at once import it once.

>>> db = AtomDB(":memory:")
>>> db.schema_version
1
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import operator
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from numpy.typing import NDArray

from atomnet import __version__
from atomnet.db._import_csv import (
    COUNT_MAX,
    DIM_MAX,
    LATENCY_MS_MAX,
    ParsedFile,
    parse_atomnet_csv,
    parse_atomnet_se_csv,
)
from atomnet.db._models_schema import (
    MODEL_SCHEMA,
    MODEL_TABLES,
    ModelImportRecord,
    ModelImportResult,
    ModelMeasurement,
    ParsedModelFile,
)
from atomnet.db._models_schema import import_records as _model_import_records
from atomnet.db._models_schema import query as _query_models
from atomnet.db._models_schema import store_files as _store_model_files
from atomnet.db._models_user import parse_model_file
from atomnet.db._rows import ParsedRow
from atomnet.db._sqlite import Transaction, busy_error, connect, is_busy
from atomnet.db._sqlite import busy_timeout_s as _busy_timeout
from atomnet.errors import InputError
from atomnet.jsontypes import JSONDict
from atomnet.ops import KEY_FIELDS, KIND_ID, KINDS, Op
from atomnet.runtimes import canonical_runtime

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
""" + MODEL_SCHEMA


_TABLES = ("meta", "sources", "measurements", "op_stats", "predictors", *MODEL_TABLES)


class SchemaError(RuntimeError, InputError):
    """The file is not an AtomDB, or has another schema version than this atomnet understands."""


class NoDatabaseError(FileNotFoundError):
    """A database that must exist (read-only use, or ``create=False``) does not."""


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
    #: already imported as another file with the same measurements (another revision or row order): its path
    same_as: str | None = None

    def to_dict(self) -> JSONDict:
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

    def to_dict(self) -> JSONDict:
        return {"op": self.op.to_dict(), "n": self.n, "median_ms": self.median_ms, "min_ms": self.min_ms,
                "max_ms": self.max_ms, "spread": self.spread, "flash_bytes": self.flash_bytes,
                "sram_bytes": self.sram_bytes}


AGGREGATES = ("median", "min", "max")


class SourceRecord(TypedDict):
    """One imported file or measurement campaign of a board: its provenance (a row of ``sources``)."""

    id: int
    board: str
    runtime: str
    runtime_version: str
    clock_mhz: float | None
    format: str
    path: str
    sha256: str
    imported_at: str
    atomnet_version: str
    rows: int
    skipped: int


class KindStats(TypedDict):
    """Rows and keys of one operator kind on one board; spreads over the keys measured more than once."""

    rows: int
    keys: int
    repeated_keys: int
    mean_spread: float | None
    mean_half_range_rel: float | None


class BoardStats(TypedDict):
    kinds: dict[str, KindStats]
    rows: int
    skipped_empty: int
    sources: list[SourceRecord]


class DBStats(TypedDict):
    """What :meth:`AtomDB.stats` returns (``atomnet db stats --json``)."""

    schema_version: int
    path: str
    boards: dict[str, BoardStats]


#: a raw measurement as exported: kind id, the nine key fields, macc, Flash bytes, SRAM bytes (each None when the
#: source did not give it), latency (ms)
RawRow = tuple[int, int, int, int, int, int, int, int, int, int, int | None, int | None, int | None, float]


class AtomDB:
    """A connection to one AtomDB SQLite file (module doc: created on first use unless ``create=False`` or
    ``readonly=True``; ``busy_timeout_s``: how long a write waits for another process, default
    ``$ATOMNET_DB_TIMEOUT`` or 30 s)."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False, create: bool = True,
                 busy_timeout_s: float | None = None) -> None:
        self.path = str(path)
        self.readonly = readonly
        #: True when this open created the AtomDB schema (a new database)
        self.created = False
        self.timeout_s = _busy_timeout(busy_timeout_s)
        self._version = SCHEMA_VERSION
        memory = self.path == ":memory:"
        create = create and not readonly
        if not memory and not Path(self.path).exists():
            if not create:
                raise NoDatabaseError(f"{self.path}: no such AtomDB")
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        if not memory and Path(self.path).is_dir():
            raise SchemaError(f"{self.path}: is a directory, not an AtomDB SQLite file")
        try:
            self.conn = connect(self.path, create=create, timeout_s=self.timeout_s)
        except sqlite3.Error as e:
            raise SchemaError(f"{self.path}: cannot open as an SQLite file ({e})") from e
        try:
            self._open(memory)
        except sqlite3.Error as e:
            self.conn.close()
            if is_busy(e):
                raise busy_error(self.path, self.timeout_s, "open it") from None
            raise SchemaError(f"{self.path}: not an AtomDB SQLite file ({e})") from e
        except BaseException:
            self.conn.close()
            raise

    # ---- plumbing -------------------------------------------------------------------------
    def _open(self, memory: bool) -> None:
        c = self.conn
        c.execute("PRAGMA foreign_keys = ON")
        if self.readonly:
            version, missing = self._inspect()
            self._version = SCHEMA_VERSION if version is None else version
            for stmt in _SCHEMA.split(";"):  # an empty file or older v1 file: empty stand-ins, nothing written
                words = stmt.split()
                if words[:2] == ["CREATE", "TABLE"] and words[5] in missing:
                    c.execute("CREATE TEMP TABLE " + stmt.split("CREATE TABLE", 1)[1])
            c.execute("PRAGMA query_only = ON")
            return
        deadline = time.monotonic() + self.timeout_s
        while True:  # switching a new file to WAL needs a moment of exclusive access
            try:
                c.execute(f"PRAGMA journal_mode = {'MEMORY' if memory else 'WAL'}")
                break
            except sqlite3.OperationalError as e:
                if not is_busy(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        c.execute("PRAGMA synchronous = NORMAL")
        version, missing = self._inspect()
        if version is None or missing:
            with self.transaction():  # re-checked under the write lock: another process may have created it
                version, missing = self._inspect()
                self._create_tables()
                if version is None:
                    c.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                    c.execute("INSERT INTO meta VALUES ('created_by', ?)", (f"atomnet {__version__}",))
                    self.created = True

    def _create_tables(self) -> None:
        for stmt in _SCHEMA.split(";"):  # executescript would commit the caller's open transaction
            if stmt.strip():
                self.conn.execute(stmt)

    def _inspect(self) -> tuple[int | None, set[str]]:
        """(schema version or None for an empty file, missing tables); SchemaError for a foreign file."""
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = set(_TABLES) - tables
        if "meta" not in tables:
            if tables:
                raise SchemaError(f"{self.path}: SQLite file without an AtomDB 'meta' table; not an AtomDB")
            return None, missing
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        try:
            version = int(row[0])
        except (TypeError, ValueError):
            raise SchemaError(f"{self.path}: no valid schema_version in the 'meta' table; not an AtomDB") from None
        if version != SCHEMA_VERSION:
            raise SchemaError(f"{self.path}: AtomDB schema version {version}, but this atomnet reads version "
                              f"{SCHEMA_VERSION}; export it with the atomnet that wrote it "
                              f"(`atomnet db export`) and import the CSV here")
        return version, missing

    def transaction(self) -> Transaction:
        """A write transaction (``BEGIN IMMEDIATE``, bounded busy wait); not on a read-only AtomDB."""
        if self.readonly:
            raise RuntimeError(f"{self.path}: opened read-only; open it with AtomDB(path) to write")
        return Transaction(self.conn, self.path, self.timeout_s)

    @property
    def schema_version(self) -> int:
        return self._version

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> AtomDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- import ---------------------------------------------------------------------------
    def import_atomnet_csv(self, path: str | os.PathLike[str], *, board: str, runtime: str = "xcube-ai",
                           runtime_version: str = "7.2", clock_mhz: float | None = 400.0) -> ImportResult:
        """Import a public ``atomdb.csv`` (either revision) in one transaction; idempotent by file hash."""
        return self.import_files([parse_atomnet_csv(Path(path))], board=board, runtime=runtime,
                                 runtime_version=runtime_version, clock_mhz=clock_mhz)[0]

    def import_atomnet_se_csv(self, path: str | os.PathLike[str], *, board: str, runtime: str = "xcube-ai",
                              runtime_version: str = "7.2", clock_mhz: float | None = 400.0) -> ImportResult:
        """Import ``atomdb_se.csv`` (whole SE modules) in one transaction; idempotent by file hash."""
        return self.import_files([parse_atomnet_se_csv(Path(path))], board=board, runtime=runtime,
                                 runtime_version=runtime_version, clock_mhz=clock_mhz)[0]

    def import_files(self, parsed: Sequence[ParsedFile], *, board: str, runtime: str = "xcube-ai",
                     runtime_version: str = "7.2", clock_mhz: float | None = 400.0) -> list[ImportResult]:
        """Store parsed files all or nothing, in one transaction; a file already imported for ``board`` (same
        SHA-256, checked under the write lock) adds nothing and is reported ``already_imported``."""
        results: list[ImportResult] = []
        kinds: set[str] = set()
        with self.transaction():
            for pf in parsed:
                counts: dict[str, int] = {}
                for r in pf.rows:
                    counts[r.op.kind] = counts.get(r.op.kind, 0) + 1
                exists = self.conn.execute("SELECT id FROM sources WHERE board=? AND sha256=?",
                                           (board, pf.sha256)).fetchone()
                same = None if exists else self._same_content(board, pf.rows)
                if exists or same is not None:  # (the same rows twice would double every count, silently)
                    results.append(ImportResult(str(pf.path), board, pf.fmt, 0, pf.skipped_empty,
                                                pf.skipped_by_type, True, counts, same))
                    continue
                source_id = self.add_source(board=board, runtime=runtime, runtime_version=runtime_version,
                                            clock_mhz=clock_mhz, fmt=pf.fmt, path=str(pf.path), sha256=pf.sha256,
                                            rows=len(pf.rows), skipped=pf.skipped_empty)
                self._insert_rows(source_id, board, pf.rows)
                kinds |= set(counts)
                results.append(ImportResult(str(pf.path), board, pf.fmt, len(pf.rows), pf.skipped_empty,
                                            pf.skipped_by_type, False, counts))
            if kinds:
                self._refresh_stats(board, kinds)
        return results

    def _same_content(self, board: str, rows: Sequence[ParsedRow]) -> str | None:
        """Path of an imported source of ``board`` holding exactly these measurements in any order, else None."""
        if not rows:
            return None
        mine = _content_hash((*r.op.key, r.macc, r.flash_bytes, r.sram_bytes, r.latency_ms) for r in rows)
        for sid, path in self.conn.execute("SELECT id, path FROM sources WHERE board=? AND rows=?",
                                           (board, len(rows))).fetchall():
            theirs = _content_hash(self.conn.execute(
                f"SELECT kind, {_KEYCOLS}, macc, flash_bytes, sram_bytes, latency_ms FROM measurements"
                " WHERE source_id=?", (sid,)))
            if theirs == mine:
                return str(path)
        return None

    def add_source(self, *, board: str, runtime: str, runtime_version: str, clock_mhz: float | None, fmt: str,
                   path: str, sha256: str, rows: int = 0, skipped: int = 0) -> int:
        """Register a provenance record (call inside a transaction); returns its id, or the id of the record
        already there for the same board and SHA-256."""
        if clock_mhz is not None and not (math.isfinite(clock_mhz) and 0 < clock_mhz < 1e6):
            raise InputError(f"clock: expected a positive clock in MHz, got {clock_mhz!r}")
        if not board or not runtime:
            raise InputError("add_source: board and runtime must not be empty")
        runtime = canonical_runtime(runtime)  # aliases stored under the canonical name; unknown: UnknownNameError
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.conn.execute(
            "INSERT INTO sources (board, runtime, runtime_version, clock_mhz, format, path, sha256, imported_at,"
            " atomnet_version, rows, skipped) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (board, sha256) DO NOTHING",
            (board, runtime, runtime_version, clock_mhz, fmt, path, sha256, now, __version__, rows, skipped))
        row = self.conn.execute("SELECT id FROM sources WHERE board=? AND sha256=?", (board, sha256)).fetchone()
        return int(row[0])

    def _insert_rows(self, source_id: int, board: str, rows: Sequence[ParsedRow],
                     campaign_keys: Sequence[str | None] | None = None) -> None:
        keys = campaign_keys if campaign_keys is not None else [None] * len(rows)
        for r in rows:
            check_row(r)
        self.conn.executemany(
            f"INSERT INTO measurements (source_id, line, board, kind, {_KEYCOLS}, macc, flash_bytes, sram_bytes,"
            " latency_ms, campaign_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            ((source_id, r.line, board, *r.op.key, r.macc, r.flash_bytes, r.sram_bytes, r.latency_ms, ck)
             for r, ck in zip(rows, keys, strict=True)))

    def add_measurements(self, source_id: int, board: str, rows: Sequence[ParsedRow],
                         campaign_keys: Sequence[str | None] | None = None) -> None:
        """Append measured rows (e.g. from a campaign) and refresh the aggregates, in one transaction."""
        with self.transaction():
            self._insert_rows(source_id, board, rows, campaign_keys)
            self._refresh_stats(board, {r.op.kind for r in rows}, only_keys={r.op.key for r in rows})

    # ---- whole-model measurements (atomnet.db._models_schema) --------------------------------
    def import_model_measurements(self, path: str | os.PathLike[str]) -> ModelImportResult:
        """Import a whole-model measurement file (``../shared/published/measurements.json`` or a user's CSV/JSON,
        :mod:`atomnet.db._models_user`) in one transaction; a file already imported (SHA-256) adds nothing."""
        return self.import_model_files([parse_model_file(path)])[0]

    def import_model_files(self, parsed: Sequence[ParsedModelFile]) -> list[ModelImportResult]:
        """Store parsed whole-model measurement files all or nothing, in one transaction."""
        with self.transaction():
            return _store_model_files(self.conn, parsed)

    def model_measurements(self, board: str | None = None, runtime: str | None = None, *,
                           family: str | None = None) -> list[ModelMeasurement]:
        """Stored whole-model measurements in import order; ``board``: an atomnet board, an MCU (``stm32h747``)
        or the printed board; ``runtime``: an atomnet runtime, else part of a printed runtime name."""
        return _query_models(self.conn, board=board, runtime=runtime, family=family)

    def model_imports(self) -> list[ModelImportRecord]:
        """Provenance of every imported whole-model measurement file."""
        return _model_import_records(self.conn)

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
            for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
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

    def sources(self, board: str | None = None) -> list[SourceRecord]:
        cur = self.conn.execute("SELECT id, board, runtime, runtime_version, clock_mhz, format, path, sha256,"
                                " imported_at, atomnet_version, rows, skipped FROM sources"
                                + (" WHERE board=?" if board else "") + " ORDER BY id", (board,) if board else ())
        # databases written before the runtime registry hold aliases ("x-cube-ai"): the canonical name
        return [SourceRecord(id=r[0], board=r[1], runtime=_canonical_or_same(str(r[2])), runtime_version=r[3],
                             clock_mhz=r[4], format=r[5], path=r[6], sha256=r[7], imported_at=r[8],
                             atomnet_version=r[9], rows=r[10], skipped=r[11]) for r in cur.fetchall()]

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
            raise InputError(f"aggregate: expected one of {AGGREGATES}, got {aggregate!r}")
        rows = self.conn.execute(f"SELECT kind, {_KEYCOLS}, {aggregate}_ms, n FROM op_stats WHERE board=?",
                                 (board,)).fetchall()
        return OpTable(board, aggregate, {tuple(r[:10]): (r[10], r[11]) for r in rows})

    def samples(self, board: str, kind: str) -> dict[str, NDArray[np.generic]]:
        """Training data for predictors: one sample per distinct key (median latency), as columns."""
        rows = self.conn.execute(f"SELECT {_KEYCOLS}, median_ms, n FROM op_stats WHERE board=? AND kind=?"
                                 f" ORDER BY {_KEYCOLS}", (board, KIND_ID[kind])).fetchall()
        arr = np.array(rows, dtype=np.float64).reshape(-1, 11)
        out: dict[str, NDArray[np.generic]] = {f: arr[:, i].astype(np.int64) for i, f in enumerate(KEY_FIELDS)}
        out["latency_ms"] = arr[:, 9]
        out["n"] = arr[:, 10].astype(np.int64)
        return out

    def stats(self, board: str | None = None) -> DBStats:
        """Rows and keys per kind, repeat spread, sources: the object behind ``atomnet db stats --json``."""
        boards = [board] if board else self.boards()
        out = DBStats(schema_version=SCHEMA_VERSION, path=self.path, boards={})
        for b in boards:
            kinds: dict[str, KindStats] = {}
            for kid, rows in self.conn.execute(
                    "SELECT kind, count(*) FROM measurements WHERE board=? GROUP BY kind", (b,)):
                keys, rep, spread, med_spread = self.conn.execute(
                    "SELECT count(*), sum(n > 1), avg(CASE WHEN n > 1 THEN spread END),"
                    " avg(CASE WHEN n > 1 THEN (max_ms - min_ms) / 2 / median_ms END)"
                    " FROM op_stats WHERE board=? AND kind=?", (b, kid)).fetchone()
                kinds[KINDS[kid]] = KindStats(rows=rows, keys=keys, repeated_keys=rep or 0, mean_spread=spread,
                                              mean_half_range_rel=med_spread)
            srcs = self.sources(b)
            out["boards"][b] = BoardStats(kinds=dict(sorted(kinds.items(), key=lambda kv: KIND_ID[kv[0]])),
                                          rows=sum(k["rows"] for k in kinds.values()),
                                          skipped_empty=sum(s["skipped"] for s in srcs), sources=srcs)
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

    def export_rows(self, board: str) -> list[RawRow]:
        """Raw rows of ``board`` in insertion order: (kind, key fields…, macc, flash, sram, latency)."""
        rows: list[RawRow] = self.conn.execute(
            f"SELECT kind, {_KEYCOLS}, macc, flash_bytes, sram_bytes, latency_ms FROM measurements WHERE board=?"
            " ORDER BY id", (board,)).fetchall()
        return rows


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

    def lookup_keys(self, keys: Sequence[tuple[int, ...]]) -> NDArray[np.float64]:
        """Latency per key (NaN where the key was never measured)."""
        nan = float("nan")
        get = self._lat.get
        return np.fromiter((get(k, nan) for k in keys), dtype=np.float64, count=len(keys))

    def lookup(self, ops: Sequence[Op]) -> NDArray[np.float64]:
        return self.lookup_keys([op.key for op in ops])

    def keys(self) -> list[tuple[int, ...]]:
        return list(self._lat)


def _canonical_or_same(runtime: str) -> str:
    try:
        return canonical_runtime(runtime)
    except ValueError:  # reported when the rows are used for pricing (atomnet.cost.load_latency_model)
        return runtime


def _content_hash(rows: Iterable[tuple[Any, ...]]) -> str:
    """Order-independent fingerprint of measured rows (kind, key, macc, flash, sram, latency)."""
    h = hashlib.sha256()
    for r in sorted(tuple(-1 if v is None else v for v in row) for row in rows):
        h.update(repr(r).encode())
    return h.hexdigest()


def _count_ok(v: object) -> bool:
    if isinstance(v, float):
        return math.isfinite(v) and v.is_integer() and 0 <= v <= COUNT_MAX
    try:
        iv = operator.index(v)  # type: ignore[arg-type]
    except TypeError:
        return False
    return not isinstance(v, bool) and 0 <= iv <= COUNT_MAX


def check_row(r: ParsedRow) -> None:
    """Refuse a row the store would keep wrong: non-finite or out-of-range latency, dimensions over 65,536,
    counts outside 0 … 2^63 - 1 (the ranges of :mod:`atomnet.db._import_csv`)."""
    lat = r.latency_ms
    if not (isinstance(lat, (int, float)) and math.isfinite(lat) and 0 < lat < LATENCY_MS_MAX):
        raise InputError(f"{r.op.describe()}: latency {lat!r} ms is outside the physical range 0 < latency < "
                         f"{LATENCY_MS_MAX:,.0f} ms (finite); not stored")
    big = [f"{f}={v}" for f, v in zip(KEY_FIELDS, r.op.key[1:], strict=True) if v > DIM_MAX]
    if big:
        raise InputError(f"{r.op.describe()}: {', '.join(big)} over the physical range 1 … {DIM_MAX:,}; not stored")
    for name, v in (("macc", r.macc), ("flash_bytes", r.flash_bytes), ("sram_bytes", r.sram_bytes)):
        if v is not None and not _count_ok(v):
            raise InputError(f"{r.op.describe()}: {name} {v!r} is not an integer in 0 … {COUNT_MAX:,}; not stored")
