"""Whole-model measurements in the AtomDB: the record, its two tables, storing and reading them.

A whole-model measurement is one published (or the user's own) row: a model run on a board with a runtime,
and what was measured — latency, activation RAM, runtime RAM, weights and code Flash, or only RAM and Flash
totals — in integer bytes and milliseconds, each with the printed cell it was read from (``cells``). A cell
whose meaning is not certain is not stored as a number: the field is NULL and ``not_stored`` says why (the
printed text stays in ``cells``). Approximate printed values (``~21 KiB``) are stored and named in ``approx``.

Tables (created with the AtomDB schema, version 1; an older file gets them on its first writable open):

* ``model_imports``: one row per imported file (path, SHA-256, format, time, atomnet version, rows stored,
  rows skipped with the reason per family). A file already imported adds nothing: the same SHA-256, or the
  same rows (``content_sha256``: the source rows as read, in any order — a re-formatted or re-ordered copy).
* ``model_measurements``: one row per measurement; its source (repository or document, path, commit,
  section) is NOT NULL, and ``raw`` holds the source row as read.

>>> from atomnet.db import AtomDB
>>> AtomDB(":memory:").model_measurements()
[]
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from atomnet import __version__
from atomnet.db._models_names import board_of, runtime_of
from atomnet.errors import InputError
from atomnet.jsontypes import JSONDict

MODEL_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_imports (
    id INTEGER PRIMARY KEY,
    format TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL UNIQUE, content_sha256 TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    atomnet_version TEXT NOT NULL, rows INTEGER NOT NULL, skipped INTEGER NOT NULL,
    rows_by_family TEXT NOT NULL, skipped_by_reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS model_measurements (
    id INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES model_imports(id),
    family TEXT NOT NULL, row_index INTEGER NOT NULL,
    board TEXT, board_as_printed TEXT NOT NULL, mcu TEXT,
    runtime TEXT, runtime_as_printed TEXT, runtime_version TEXT,
    model TEXT NOT NULL, model_kind TEXT NOT NULL, model_as_printed TEXT NOT NULL, architecture TEXT,
    dataset TEXT, num_classes INTEGER, input_h INTEGER, input_w INTEGER, input_c INTEGER,
    resolution_as_printed TEXT, quantization TEXT, plan TEXT, io_in_activation_ram INTEGER,
    latency_ms REAL, activation_ram_bytes INTEGER, runtime_ram_bytes INTEGER, weights_flash_bytes INTEGER,
    code_flash_bytes INTEGER, total_ram_bytes INTEGER, total_flash_bytes INTEGER, clock_mhz REAL,
    oom INTEGER NOT NULL, approx TEXT NOT NULL, caveats TEXT NOT NULL, cells TEXT NOT NULL,
    not_stored TEXT NOT NULL,
    source_repo TEXT NOT NULL, source_path TEXT NOT NULL, source_commit TEXT NOT NULL,
    source_section TEXT NOT NULL, raw TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS model_measurements_board ON model_measurements (board, runtime);
"""
MODEL_TABLES = ("model_imports", "model_measurements")

#: the measured quantities: field name → unit of the stored value
MEASURED_FIELDS: dict[str, str] = {
    "latency_ms": "ms", "activation_ram_bytes": "B", "runtime_ram_bytes": "B", "weights_flash_bytes": "B",
    "code_flash_bytes": "B", "total_ram_bytes": "B", "total_flash_bytes": "B",
}
MODEL_KINDS = ("zoo", "spec", "tflite", "name")
LATENCY_MS_MAX = 1e6  # exclusive, as for operator rows
BYTES_MAX = 1 << 40  # inclusive: no MCU memory holds a terabyte
CLOCK_MHZ_MAX = 1e4


class ModelFormatError(InputError):
    """A bad value in a whole-model measurement file: names the file, the row (CSV line, JSON row index or
    ``family[index]``) and the field."""

    def __init__(self, path: str | Path, where: str, column: str | None, message: str) -> None:
        col = f"field '{column}': " if column else ""
        sep = ":" if where[:1].isdigit() else ": "  # a CSV line: file:line
        super().__init__(f"{path}{sep}{where}: {col}{message}" if where else f"{path}: {col}{message}")
        self.path, self.where, self.column = str(path), where, column


@dataclass(frozen=True, kw_only=True)
class ModelMeasurement:
    """One whole-model measurement (module doc). ``board``/``runtime`` are atomnet names (None when the printed
    board or runtime is none of atomnet's); ``model_kind`` says what ``model`` is: a zoo name, a spec file, a
    ``.tflite`` file, or a printed model ``name``. Sizes in bytes, times in ms; None = not measured or not
    stored (``not_stored[field]`` says why)."""

    family: str
    row_index: int
    board: str | None
    board_as_printed: str
    mcu: str | None
    runtime: str | None
    runtime_as_printed: str | None
    runtime_version: str | None
    model: str
    model_kind: str
    model_as_printed: str
    architecture: str | None = None
    dataset: str | None = None
    num_classes: int | None = None
    input_h: int | None = None
    input_w: int | None = None
    input_c: int | None = None
    resolution_as_printed: str | None = None
    quantization: str | None = None
    #: how the model was executed when not layer by layer in internal memory: "patch-based" (MCUNetV2),
    #: "tinyops" (weights in external memory, DMA partitioning); None = layer by layer or not stated
    plan: str | None = None
    #: whether activation RAM includes the input and output buffers (X-CUBE-AI "allocate inputs/outputs")
    io_in_activation_ram: bool | None = None
    latency_ms: float | None = None
    activation_ram_bytes: int | None = None
    runtime_ram_bytes: int | None = None
    weights_flash_bytes: int | None = None
    code_flash_bytes: int | None = None
    total_ram_bytes: int | None = None
    total_flash_bytes: int | None = None
    clock_mhz: float | None = None
    oom: bool = False
    approx: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()
    cells: dict[str, str] = field(default_factory=dict, hash=False)
    not_stored: dict[str, str] = field(default_factory=dict, hash=False)
    source_repo: str
    source_path: str
    source_commit: str
    source_section: str
    raw: str = "{}"
    id: int | None = None
    import_id: int | None = None

    def measured(self) -> dict[str, float | int]:
        """The stored measured quantities (field → value), without the None ones."""
        out: dict[str, float | int] = {}
        for f in MEASURED_FIELDS:
            v = getattr(self, f)
            if v is not None:
                out[f] = v
        return out

    def raw_row(self) -> JSONDict:
        """The source row as read (the published JSON object, or the user row's cells)."""
        v = json.loads(self.raw)
        return v if isinstance(v, dict) else {"value": v}

    def to_dict(self) -> JSONDict:
        d: JSONDict = {f.name: getattr(self, f.name) for f in fields(self)}
        d["approx"], d["caveats"] = list(self.approx), list(self.caveats)
        d["cells"], d["not_stored"], d["raw"] = dict(self.cells), dict(self.not_stored), self.raw_row()
        return d


@dataclass
class ParsedModelFile:
    """A parsed file, not yet stored: its rows, and the rows skipped (family → reason → count)."""

    path: Path
    sha256: str
    fmt: str  # "published-measurements-json", "model-measurements-csv", "model-measurements-json"
    rows: list[ModelMeasurement] = field(default_factory=list)
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)

    def skip(self, family: str, reason: str) -> None:
        per = self.skipped.setdefault(family, {})
        per[reason] = per.get(reason, 0) + 1

    @property
    def skipped_count(self) -> int:
        return sum(sum(v.values()) for v in self.skipped.values())

    def content_sha256(self) -> str:
        """Fingerprint of the rows as read (family and source row), independent of order and formatting."""
        h = hashlib.sha256()
        for fam, raw in sorted((m.family, m.raw) for m in self.rows):
            h.update(f"{fam}\0{raw}\0".encode())
        return h.hexdigest()

    def rows_by_family(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.family] = out.get(r.family, 0) + 1
        return out


@dataclass(frozen=True)
class ModelImportResult:
    """What one file's import did; ``already_imported``: the same file (SHA-256) was imported before."""

    path: str
    format: str
    added: int
    rows_by_family: dict[str, int]
    skipped: int
    skipped_by_reason: dict[str, dict[str, int]]
    already_imported: bool
    #: the path it was imported from the first time (when already imported)
    imported_as: str | None = None

    def to_dict(self) -> JSONDict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ModelImportRecord:
    """One row of ``model_imports``: the provenance of an imported file."""

    id: int
    format: str
    path: str
    sha256: str
    content_sha256: str
    imported_at: str
    atomnet_version: str
    rows: int
    skipped: int
    rows_by_family: dict[str, int]
    skipped_by_reason: dict[str, dict[str, int]]

    def to_dict(self) -> JSONDict:
        return dict(self.__dict__)


def _types(annotation: str) -> tuple[type, ...]:
    out: list[type] = []
    for part in annotation.split(" | "):
        base = part.split("[")[0]
        out.append({"str": str, "int": int, "float": float, "bool": bool, "None": type(None), "tuple": tuple,
                    "dict": dict}[base])
    return tuple(out)


_FIELD_TYPES = {f.name: _types(str(f.type)) for f in fields(ModelMeasurement)}


def make(**kw: object) -> ModelMeasurement:
    """A :class:`ModelMeasurement` from keyword values, each checked against its field's type (importers build
    rows from loosely typed JSON and CSV cells); an int for a float field is taken as that float."""
    for name, v in kw.items():
        allowed = _FIELD_TYPES.get(name)
        if allowed is None:
            raise TypeError(f"ModelMeasurement has no field {name!r}")
        if float in allowed and type(v) is int:
            kw[name] = float(v)
        elif not isinstance(v, allowed) or (type(v) is bool and bool not in allowed):
            raise TypeError(f"ModelMeasurement.{name}: expected {allowed}, got {v!r}")
    return ModelMeasurement(**kw)  # type: ignore[arg-type]  # (checked above)


_COLUMNS = tuple(f.name for f in fields(ModelMeasurement) if f.name not in ("id", "import_id"))
_JSON_COLUMNS = ("approx", "caveats", "cells", "not_stored")


def check_measurement(m: ModelMeasurement, path: str | Path, where: str) -> None:
    """Refuse what the store would keep wrong: out-of-range values, a row without any measurement."""
    def bad(col: str | None, msg: str) -> ModelFormatError:
        return ModelFormatError(path, where, col, msg)

    lat = m.latency_ms
    if lat is not None and not (isinstance(lat, float) and 0 < lat < LATENCY_MS_MAX):
        raise bad("latency_ms", f"latency {lat!r} ms is outside the physical range 0 < latency < 1,000,000 ms")
    for f in MEASURED_FIELDS:
        v = getattr(m, f)
        if f != "latency_ms" and v is not None and not (type(v) is int and 0 <= v <= BYTES_MAX):
            raise bad(f, f"{v!r} is not a whole number of bytes in 0 … {BYTES_MAX:,}")
    if m.clock_mhz is not None and not (0 < m.clock_mhz < CLOCK_MHZ_MAX):
        raise bad("clock_mhz", f"clock {m.clock_mhz!r} MHz is outside 0 < clock < {CLOCK_MHZ_MAX:,.0f} MHz")
    if m.model_kind not in MODEL_KINDS:
        raise bad("model_kind", f"expected one of {', '.join(MODEL_KINDS)}, got {m.model_kind!r}")
    if not m.measured() and not m.oom:
        raise bad(None, "no measurement: give at least one of latency, activation_ram, runtime_ram, "
                        "weights_flash, code_flash, total_ram, total_flash, or oom=true")
    for name in ("board_as_printed", "model", "source_repo", "source_path", "source_commit", "source_section"):
        if not getattr(m, name).strip():
            raise bad(name, "must not be empty")


def _row_values(m: ModelMeasurement) -> list[object]:
    out: list[object] = []
    for c in _COLUMNS:
        v = getattr(m, c)
        if c in _JSON_COLUMNS:
            v = json.dumps(list(v) if isinstance(v, tuple) else v, ensure_ascii=False, sort_keys=True)
        out.append(v)
    return out


def store_files(conn: sqlite3.Connection, parsed: Sequence[ParsedModelFile]) -> list[ModelImportResult]:
    """Store parsed files (call inside a write transaction); a file whose SHA-256 is already in
    ``model_imports`` adds nothing and is reported ``already_imported``."""
    results: list[ModelImportResult] = []
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    insert = (f"INSERT INTO model_measurements (import_id, {', '.join(_COLUMNS)}) VALUES "
              f"({', '.join('?' * (len(_COLUMNS) + 1))})")
    for pf in parsed:
        by_family = pf.rows_by_family()
        content = pf.content_sha256()
        old = conn.execute("SELECT path FROM model_imports WHERE sha256=?", (pf.sha256,)).fetchone()
        if old is None and pf.rows:  # (a file of blank rows only is no copy of another)
            old = conn.execute("SELECT path FROM model_imports WHERE content_sha256=? AND rows>0",
                               (content,)).fetchone()
        if old is not None:
            results.append(ModelImportResult(str(pf.path), pf.fmt, 0, by_family, pf.skipped_count, pf.skipped,
                                             True, str(old[0])))
            continue
        cur = conn.execute(
            "INSERT INTO model_imports (format, path, sha256, content_sha256, imported_at, atomnet_version, rows,"
            " skipped, rows_by_family, skipped_by_reason) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (pf.fmt, str(pf.path), pf.sha256, content, now, __version__, len(pf.rows), pf.skipped_count,
             json.dumps(by_family, sort_keys=True), json.dumps(pf.skipped, sort_keys=True)))
        import_id = cur.lastrowid
        conn.executemany(insert, ([import_id, *_row_values(m)] for m in pf.rows))
        results.append(ModelImportResult(str(pf.path), pf.fmt, len(pf.rows), by_family, pf.skipped_count,
                                         pf.skipped, False))
    return results


def _from_row(row: Sequence[object]) -> ModelMeasurement:
    kw: dict[str, object] = {"id": row[0], "import_id": row[1]}
    for c, v in zip(_COLUMNS, row[2:], strict=True):
        if c in _JSON_COLUMNS:
            v = json.loads(str(v))
            v = tuple(v) if isinstance(v, list) else v
        elif c in ("oom", "io_in_activation_ram") and v is not None:
            v = bool(v)
        kw[c] = v
    if kw["board"] is None:  # a board registered after the import
        kw["board"] = board_of(str(kw["board_as_printed"]))
    if kw["runtime"] is None:  # a runtime registered after the import
        rp = kw["runtime_as_printed"]
        kw["runtime"] = runtime_of(rp if isinstance(rp, str) else None)
    return make(**kw)


def _matches(m: ModelMeasurement, board: str | None, runtime: str | None, family: str | None) -> bool:
    if family is not None and m.family != family:
        return False
    if board is not None:
        b = board.lower()
        if not (m.board == board or (m.mcu or "") == b or m.board_as_printed.lower() == b):
            return False
    if runtime is not None:
        canonical = runtime_of(runtime)
        if canonical is not None:
            return m.runtime == canonical
        return m.runtime is None and runtime.lower() in (m.runtime_as_printed or "").lower()
    return True


def query(conn: sqlite3.Connection, *, board: str | None = None, runtime: str | None = None,
          family: str | None = None) -> list[ModelMeasurement]:
    """Rows in import order; ``board``: an atomnet board, an MCU (``stm32h747``) or the printed board;
    ``runtime``: an atomnet runtime (aliases accepted), else a part of the printed runtime name of rows that
    map to no atomnet runtime (``plumerai``)."""
    cur = conn.execute(f"SELECT id, import_id, {', '.join(_COLUMNS)} FROM model_measurements ORDER BY id")
    rows = (_from_row(r) for r in cur.fetchall())
    return [m for m in rows if _matches(m, board, runtime, family)]


def _dict_of(text: object) -> dict[str, object]:
    v = json.loads(str(text))
    return v if isinstance(v, dict) else {}


def import_records(conn: sqlite3.Connection) -> list[ModelImportRecord]:
    cur = conn.execute("SELECT id, format, path, sha256, content_sha256, imported_at, atomnet_version, rows, skipped,"
                       " rows_by_family, skipped_by_reason FROM model_imports ORDER BY id")
    out = []
    for r in cur.fetchall():
        fam = {str(k): int(str(v)) for k, v in _dict_of(r[9]).items()}
        skipped = {str(k): {str(a): int(str(b)) for a, b in _dict_of(json.dumps(v)).items()}
                   for k, v in _dict_of(r[10]).items()}
        out.append(ModelImportRecord(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6]),
                                     int(r[7]), int(r[8]), fam, skipped))
    return out


def model_counts(rows: Iterable[ModelMeasurement]) -> dict[tuple[str, str, str], int]:
    """Rows per (family, board or printed board, runtime or printed runtime)."""
    out: dict[tuple[str, str, str], int] = {}
    for m in rows:
        key = (m.family, m.board or m.mcu or m.board_as_printed, m.runtime or m.runtime_as_printed or "(not stated)")
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))
