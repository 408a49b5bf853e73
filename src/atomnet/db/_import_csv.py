"""Parsers for the public AtomNet AtomDB CSV files (``atomdb.csv`` in both revisions, ``atomdb_se.csv``).

Every property listed in ``../shared/atomdb/README.md`` is handled here:

* rows are classified **by which fields are filled**, never by the ``type`` column (scrambled from
  data row 34,805 on in the current file);
* rows empty except ``type`` are skipped and counted (3,359 in the current file, 103 ``under_test``);
* both header variants (``MACs, Flash, latency`` and the v0 ``params, FLOPs, latency``);
* implicit conventions: depthwise keys are valid convs on the padded input; the RGB stem
  (ordinary conv with c_in = 3) stores its unpadded input; dense rows hold in_features in ``groups``;
* SE values with thousands separators (``"928,000"``).

Every value is checked against its form and a physical range; anything else is an error naming the
file, line and column and the expected form, and nothing of the file (or of the command) is imported:

=====================  =====================================================  ==========================
columns                accepted form                                          range
=====================  =====================================================  ==========================
``latency``            decimal with a ``.`` point, optional exponent          ``0 < latency < 1e6`` ms,
                       (``0.006``, ``47.679``, ``1.5e-3``); **no comma**      finite
dimensions: ``c_in``   plain digits, or thousands separated strictly as       ``1 … 65,536``
``h_in`` ``w_in``      ``d{1,3}(,ddd)+`` (``1,024``); ``64.0`` is 64
``c_out`` ``h_out``
``w_out`` ``k1``
``k2`` ``groups``
``reduction``
counts: ``MACs``       as dimensions                                          ``0 … 2^63 - 1``
``Flash`` ``SRAM``
``params`` ``FLOPs``
=====================  =====================================================  ==========================

So ``"0,006"`` in ``latency`` (a decimal comma, which read as a separator would be 6.0 ms, 1000× too
large), ``"47,679"``, ``inf``, ``nan``, ``1e999``, ``1e308`` and ``c_in=1e9`` are refused. The derived
``MACs/latency`` column is not read.

Parsing is separate from storing: a file is parsed completely, and only a file without errors is
written (in one transaction) by the store. Errors name the file, line and column.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from atomnet.db._rows import ParsedRow
from atomnet.errors import InputError
from atomnet.ops import Op

CURRENT_HEADER = ("type", "conv_type", "groups", "c_in", "h_in", "w_in", "k1", "k2", "c_out", "h_out", "w_out",
                  "MACs", "Flash", "latency", "MACs/latency")
V0_HEADER = ("type", "conv_type", "groups", "c_in", "h_in", "w_in", "k1", "k2", "c_out", "h_out", "w_out",
             "params", "FLOPs", "latency", "FLOPs/latency")
SE_HEADER = ("config", "c_in", "h_in", "w_in", "reduction", "MACs", "Flash", "SRAM", "latency", "MACs/latency")

#: physical ranges of the stored values (module doc); also enforced by the store for measured rows
LATENCY_MS_MAX = 1e6  # exclusive; and latency > 0
DIM_MAX = 65_536  # inclusive; dimensions are >= 1
COUNT_MAX = 2**63 - 1  # inclusive (SQLite INTEGER); counts are >= 0
COUNT_COLUMNS = frozenset({"MACs", "Flash", "SRAM", "params", "FLOPs"})

_INT_RE = re.compile(r"(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.0*)?")
_FLOAT_RE = re.compile(r"\+?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INT_FORM = "an integer like 1024 or 1,024 (thousands separated only as d{1,3}(,ddd)+)"
_FLOAT_FORM = "milliseconds with a '.' decimal point, e.g. 0.006 or 1.5e-3, no comma"


class ImportFormatError(InputError):
    """A malformed input file: names the file, line (1-based, header = line 1) and column."""

    def __init__(self, path: str | Path, line: int, column: str | None, message: str) -> None:
        where = f"{path}:{line}" + (f": column '{column}'" if column else "")
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.column = str(path), line, column


@dataclass
class ParsedFile:
    path: Path
    sha256: str
    fmt: str  # "atomnet-csv", "atomnet-csv-v0", "atomnet-se-csv"
    rows: list[ParsedRow] = field(default_factory=list)
    skipped_empty: int = 0
    skipped_by_type: dict[str, int] = field(default_factory=dict)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _show(raw: str) -> str:
    return raw if len(raw) <= 40 else f"{raw[:20]}…({len(raw)} characters)"


class _Row:
    """Typed access to one CSV row with errors that point at the cell."""

    def __init__(self, path: Path, line: int, header: tuple[str, ...], values: list[str]) -> None:
        self.path, self.line = path, line
        # a blank row may have fewer cells than the header (_read_rows refuses any other mismatch)
        self.cells = dict(zip(header, (v.strip() for v in values), strict=False))

    def has(self, col: str) -> bool:
        return self.cells.get(col, "") != ""

    def int(self, col: str) -> int:
        """An integer cell: dimension (1 … 65,536) or count (0 … 2^63 - 1, :data:`COUNT_COLUMNS`)."""
        raw = self.cells.get(col, "")
        if not _INT_RE.fullmatch(raw):
            what = "an empty cell" if raw == "" else repr(_show(raw))
            raise ImportFormatError(self.path, self.line, col, f"expected {_INT_FORM}, got {what}")
        digits = raw.split(".")[0].replace(",", "").lstrip("0") or "0"
        v = int(digits) if len(digits) <= 20 else COUNT_MAX + 1  # (int() refuses > 4300 digits)
        lo, hi, what = (0, COUNT_MAX, "count") if col in COUNT_COLUMNS else (1, DIM_MAX, "dimension")
        if not lo <= v <= hi:
            raise ImportFormatError(self.path, self.line, col,
                                    f"{what} {_show(raw)} is outside the physical range {lo:,} … {hi:,}")
        return v

    def latency(self, col: str = "latency") -> float:
        """A latency cell: finite milliseconds, 0 < latency < 10^6."""
        raw = self.cells.get(col, "")
        if not _FLOAT_RE.fullmatch(raw):
            what = "an empty cell" if raw == "" else repr(_show(raw))
            hint = " (a decimal comma or a thousands separator?)" if "," in raw else ""
            raise ImportFormatError(self.path, self.line, col, f"expected a number ({_FLOAT_FORM}), got {what}{hint}")
        v = float(raw)
        if not (math.isfinite(v) and 0 < v < LATENCY_MS_MAX):
            raise ImportFormatError(self.path, self.line, col,
                                    f"latency {_show(raw)} ms is outside the physical range 0 < latency < "
                                    f"{LATENCY_MS_MAX:,.0f} ms (finite)")
        return v

    def fail(self, message: str, col: str | None = None) -> ImportFormatError:
        return ImportFormatError(self.path, self.line, col, message)


def _read_rows(
    path: Path, expected: tuple[tuple[str, ...], ...]
) -> tuple[tuple[str, ...], list[tuple[int, list[str]]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            try:
                header = tuple(h.strip() for h in next(reader))
            except StopIteration:
                raise ImportFormatError(path, 1, None, "empty file; expected a CSV header") from None
            if header not in expected:
                exp = " or ".join(",".join(h) for h in expected)
                raise ImportFormatError(path, 1, None, f"unexpected header {','.join(header)!r}; expected {exp}")
            rows = [(reader.line_num, r) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ImportFormatError(path, 0, None, f"cannot read file: {e}") from e
    for line, r in rows:
        if len(r) != len(header) and any(c.strip() for c in r):
            raise ImportFormatError(path, line, None,
                                    f"expected {len(header)} fields, found {len(r)} (truncated or malformed row)")
    return header, rows


def _stride_for(row: _Row, h_in: int, h_out: int, k: int, padding: int) -> int:
    for s in (1, 2, 3, 4):
        if (h_in + 2 * padding - k) // s + 1 == h_out:
            return s
    raise row.fail(f"h_out={h_out} is not a {k}x{k} conv output of h_in={h_in} (padding {padding}) for any stride",
                   "h_out")


def _classify(row: _Row, macs_col: str, flash_col: str) -> ParsedRow:
    """One measured X-CUBE-AI layer → (Op, MACC, Flash, latency), by which fields are filled."""
    latency = row.latency()
    c_out, macs, flash = row.int("c_out"), row.int(macs_col), row.int(flash_col)
    if not row.has("c_in"):
        if row.has("groups"):  # dense: in_features stored in `groups`
            return ParsedRow(row.line, Op.dense(row.int("groups"), c_out), macs, flash, None, latency)
        h, w = row.int("h_out"), row.int("w_out")
        chw = c_out * h * w
        if macs == chw:
            return ParsedRow(row.line, Op.eltwise(c_out, h, w), macs, flash, None, latency)
        if macs == 2 * chw:
            return ParsedRow(row.line, Op.affine(c_out, h, w), macs, flash, None, latency)
        raise row.fail(f"elementwise row with {macs_col}={macs} is neither c*h*w={chw} nor 2*c*h*w", macs_col)
    c_in, h_in, w_in = row.int("c_in"), row.int("h_in"), row.int("w_in")
    h_out, w_out = row.int("h_out"), row.int("w_out")
    if not row.has("k1"):
        if macs != 0 or c_in != c_out or h_out < h_in:
            raise row.fail("row without kernel is not a pad (expected MACs=0, c_in=c_out, h_out>=h_in)", "k1")
        return ParsedRow(row.line, Op.pad(c_in, h_in, w_in, h_out, w_out), macs, flash, None, latency)
    k1, k2 = row.int("k1"), row.int("k2")
    groups = row.int("groups") if row.has("groups") else 1
    if k1 != k2:
        raise row.fail(f"non-square kernel {k1}x{k2} is not supported", "k2")
    if k1 == 1:
        if groups != 1 or h_out != h_in or w_out != w_in:
            raise row.fail("1x1 conv must be a stride-1 pointwise conv with groups=1", "groups")
        return ParsedRow(row.line, Op.pointwise(c_in, h_in, w_in, c_out), macs, flash, None, latency)
    if groups == c_in == c_out and groups > 1:
        s = _stride_for(row, h_in, h_out, k1, 0)
        op = Op("depthwise", c_in, h_in, w_in, c_out, h_out, w_out, k1, s, groups)
        return ParsedRow(row.line, op, macs, flash, None, latency)
    if groups != 1:
        raise row.fail(f"grouped conv with groups={groups} (c_in={c_in}, c_out={c_out}) is not supported", "groups")
    padding = k1 // 2 if c_in == 3 and h_out * 2 >= h_in else 0  # RGB stem: unpadded input stored
    s = _stride_for(row, h_in, h_out, k1, padding)
    return ParsedRow(row.line, Op("conv", c_in, h_in, w_in, c_out, h_out, w_out, k1, s, 1), macs, flash, None, latency)


def parse_atomnet_csv(path: str | Path) -> ParsedFile:
    """Parse ``atomdb.csv`` (current or v0 header) into classified rows; raises :class:`ImportFormatError`."""
    p = Path(path)
    header, rows = _read_rows(p, (CURRENT_HEADER, V0_HEADER))
    v0 = header == V0_HEADER
    macs_col, flash_col = ("FLOPs", "params") if v0 else ("MACs", "Flash")
    out = ParsedFile(p, file_sha256(p), "atomnet-csv-v0" if v0 else "atomnet-csv")
    for line, values in rows:
        row = _Row(p, line, header, values)
        if not any(row.has(c) for c in header[1:]):  # empty except `type`
            out.skipped_empty += 1
            t = row.cells.get("type", "") or "(blank)"
            out.skipped_by_type[t] = out.skipped_by_type.get(t, 0) + 1
            continue
        try:
            out.rows.append(_classify(row, macs_col, flash_col))
        except ImportFormatError:
            raise
        except ValueError as e:  # an operator that cannot exist (e.g. from Op's own checks): name the line
            raise row.fail(str(e)) from None
    return out


def parse_atomnet_se_csv(path: str | Path) -> ParsedFile:
    """Parse ``atomdb_se.csv``: one row per whole SE module (reduction 4)."""
    p = Path(path)
    header, rows = _read_rows(p, (SE_HEADER,))
    out = ParsedFile(p, file_sha256(p), "atomnet-se-csv")
    for line, values in rows:
        row = _Row(p, line, header, values)
        if not any(row.has(c) for c in header[1:]):
            out.skipped_empty += 1
            continue
        c, h, w = row.int("c_in"), row.int("h_in"), row.int("w_in")
        red = row.int("reduction")
        if red != 4:
            raise row.fail(f"only SE modules with reduction 4 (mid = make_divisible(C/4, 8)) are supported, "
                           f"got {red}", "reduction")
        if c < 1 or h < 1 or w < 1:
            raise row.fail("c_in, h_in and w_in must be positive", "c_in")
        try:
            op = Op.se(c, h, w)
        except ValueError as e:
            raise row.fail(str(e)) from None
        out.rows.append(ParsedRow(line, op, row.int("MACs"), row.int("Flash"), row.int("SRAM"), row.latency()))
    return out


def is_se_csv(path: str | Path) -> bool:
    """Whether ``path`` is an ``atomdb_se.csv`` table (whole SE modules), recognised by its header."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        return tuple(h.strip() for h in f.readline().split(",")) == SE_HEADER
