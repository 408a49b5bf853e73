"""Parsers for the public AtomNet AtomDB CSV files (``atomdb.csv`` in both revisions, ``atomdb_se.csv``).

Every property listed in ``../shared/atomdb/README.md`` is handled here:

* rows are classified **by which fields are filled**, never by the ``type`` column (scrambled from
  data row 34,805 on in the current file);
* rows empty except ``type`` are skipped and counted (3,359 in the current file, 103 ``under_test``);
* both header variants (``MACs, Flash, latency`` and the v0 ``params, FLOPs, latency``);
* implicit conventions: depthwise keys are valid convs on the padded input; the RGB stem
  (ordinary conv with c_in = 3) stores its unpadded input; dense rows hold in_features in ``groups``;
* SE values with thousands separators (``"928,000"``).

Parsing is separate from storing: a file is parsed completely, and only a file without errors is
written (in one transaction) by the store. Errors name the file, line and column.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from atomnet.ops import Op

CURRENT_HEADER = ("type", "conv_type", "groups", "c_in", "h_in", "w_in", "k1", "k2", "c_out", "h_out", "w_out",
                  "MACs", "Flash", "latency", "MACs/latency")
V0_HEADER = ("type", "conv_type", "groups", "c_in", "h_in", "w_in", "k1", "k2", "c_out", "h_out", "w_out",
             "params", "FLOPs", "latency", "FLOPs/latency")
SE_HEADER = ("config", "c_in", "h_in", "w_in", "reduction", "MACs", "Flash", "SRAM", "latency", "MACs/latency")


class ImportFormatError(ValueError):
    """A malformed input file: names the file, line (1-based, header = line 1) and column."""

    def __init__(self, path: str | Path, line: int, column: str | None, message: str) -> None:
        where = f"{path}:{line}" + (f": column '{column}'" if column else "")
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.column = str(path), line, column


@dataclass(frozen=True)
class ParsedRow:
    line: int
    op: Op
    macc: int | None
    flash_bytes: int | None
    sram_bytes: int | None
    latency_ms: float


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


class _Row:
    """Typed access to one CSV row with errors that point at the cell."""

    def __init__(self, path: Path, line: int, header: tuple[str, ...], values: list[str]) -> None:
        self.path, self.line = path, line
        self.cells = dict(zip(header, (v.strip() for v in values)))

    def has(self, col: str) -> bool:
        return self.cells.get(col, "") != ""

    def int(self, col: str) -> int:
        raw = self.cells.get(col, "")
        txt = raw.replace(",", "")
        try:
            v = int(txt)
        except ValueError:
            try:
                fv = float(txt)
            except ValueError:
                what = "an empty cell" if raw == "" else repr(raw)
                raise ImportFormatError(self.path, self.line, col, f"expected an integer, got {what}") from None
            if not fv.is_integer():
                raise ImportFormatError(self.path, self.line, col, f"expected an integer, got {raw!r}") from None
            v = int(fv)
        if v < 0:
            raise ImportFormatError(self.path, self.line, col, f"expected a non-negative integer, got {raw!r}")
        return v

    def float(self, col: str) -> float:
        raw = self.cells.get(col, "")
        try:
            v = float(raw.replace(",", ""))
        except ValueError:
            what = "an empty cell" if raw == "" else repr(raw)
            raise ImportFormatError(self.path, self.line, col, f"expected a number, got {what}") from None
        if not v >= 0:
            raise ImportFormatError(self.path, self.line, col, f"expected a non-negative number, got {raw!r}")
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
    latency = row.float("latency")
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
        out.rows.append(_classify(row, macs_col, flash_col))
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
        out.rows.append(ParsedRow(line, Op.se(c, h, w), row.int("MACs"), row.int("Flash"), row.int("SRAM"),
                                  row.float("latency")))
    return out
