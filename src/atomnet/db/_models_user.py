"""A user's own whole-model measurements (CSV or JSON), and :func:`parse_model_file` for any accepted file.

Columns (CSV header, or the keys of each object of a JSON list / of ``{"measurements": [...]}``):

* required: ``board`` (an atomnet board, else kept as printed with its MCU), ``runtime`` (an atomnet runtime or
  alias, else kept as printed), ``model`` (a zoo name, a spec file, a ``.tflite`` file or a printed name);
* at least one measurement: ``latency`` (``587 ms``), ``activation_ram``, ``runtime_ram``, ``weights_flash``,
  ``code_flash``, ``total_ram``, ``total_flash`` (``163 KiB``, ``166912 B``), each also as a bare number in the
  unit of its name (``latency_ms``, ``activation_ram_bytes`` …; one of the two per quantity), or ``oom`` = true;
* optional: ``runtime_version``, ``model_kind`` (zoo, spec, tflite, name; default: tflite for ``*.tflite``, spec
  for ``*.json``/``*.toml``, else name), ``architecture``, ``dataset``, ``num_classes``, ``resolution``
  (``96x96x3``), ``quantization``, ``plan`` (patch-based, tinyops), ``io_in_activation_ram`` (true/false),
  ``clock_mhz``, ``approx`` (measured fields that are approximate, ``;``-separated), ``caveat``,
  ``source_repo``, ``source_path``, ``source_commit``, ``source_section`` (default: this file, its SHA-256 and
  the line).

Value forms: :mod:`atomnet.db._models_values` (no decimal comma, no thousands separator, no ``kB``). Any bad
value or unknown column is an error naming ``file:line`` (CSV) or ``file: row N`` (JSON) and the field; nothing
of the file is imported.

>>> from pathlib import Path
>>> p = Path(getfixture("tmp_path")) / "mine.csv"
>>> _ = p.write_text("board,runtime,model,latency,total_ram\\nstm32h743,tflm,mcunet-vww0,587 ms,163 KiB\\n")
>>> m = parse_model_file(p).rows[0]
>>> m.board, m.runtime, m.latency_ms, m.total_ram_bytes, m.source_section
('stm32h743', 'tflm', 587.0, 166912, 'line 2')
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from atomnet.db._models_names import board_of, mcu_of, runtime_of
from atomnet.db._models_published import is_published, parse_published
from atomnet.db._models_schema import MEASURED_FIELDS, ModelFormatError, ParsedModelFile, check_measurement, make
from atomnet.db._models_values import CellError, bare_bytes, boolean, number, resolution, size_bytes, time_ms

FAMILY = "user"
REQUIRED = ("board", "runtime", "model")
TEXT = ("runtime_version", "model_kind", "architecture", "dataset", "quantization", "plan", "caveat",
        "source_repo", "source_path", "source_commit", "source_section")
OTHER = ("num_classes", "resolution", "clock_mhz", "oom", "io_in_activation_ram", "approx")
#: quantity → (stored field, column with a unit and its reader, bare-number column and its reader)
QUANTITIES: dict[str, tuple[str, Callable[[str], float | int], str, Callable[[str], float | int]]] = {
    "latency": ("latency_ms", time_ms, "latency_ms", lambda t: number(t, "a latency in ms")),
    **{q: (f"{q}_bytes", size_bytes, f"{q}_bytes", bare_bytes)
       for q in ("activation_ram", "runtime_ram", "weights_flash", "code_flash", "total_ram", "total_flash")},
}
COLUMNS = frozenset((*REQUIRED, *TEXT, *OTHER, *QUANTITIES, *(v[2] for v in QUANTITIES.values())))
PLANS = ("patch-based", "tinyops")


def _kind_of(model: str) -> str:
    low = model.lower()
    if low.endswith(".tflite"):
        return "tflite"
    return "spec" if low.endswith((".json", ".toml")) else "name"


def _classes(text: str) -> int:
    n = bare_bytes(text)
    if n < 1:
        raise CellError(f"expected a positive number of classes, got {text!r}")
    return n


def _quantities(cells: Mapping[str, str], fail: Callable[[str | None, str], ModelFormatError]) -> dict[str, object]:
    out: dict[str, object] = {}
    for q, (field, read_unit, bare_col, read_bare) in QUANTITIES.items():
        given = [(c, read) for c, read in ((q, read_unit), (bare_col, read_bare)) if cells.get(c, "")]
        if len(given) == 2:
            raise fail(bare_col, f"both {q!r} and {bare_col!r} are given; keep one")
        for col, read in given:
            try:
                out[field] = read(cells[col])
            except CellError as e:
                raise fail(col, str(e)) from None
    lat = out.get("latency_ms")
    if isinstance(lat, float) and lat <= 0:
        raise fail("latency", f"expected a positive latency, got {lat!r} ms")
    return out


def _optional(cells: Mapping[str, str], fail: Callable[[str | None, str], ModelFormatError]) -> dict[str, object]:
    out: dict[str, object] = {k: cells[k] for k in TEXT if cells.get(k) and k != "caveat"}
    readers: tuple[tuple[str, Callable[[str], object]], ...] = (
        ("num_classes", _classes), ("clock_mhz", lambda t: number(t, "a clock in MHz")), ("oom", boolean),
        ("io_in_activation_ram", boolean), ("resolution", resolution))
    for key, read in readers:
        if cells.get(key):
            try:
                out[key] = read(cells[key])
            except CellError as e:
                raise fail(key, str(e)) from None
    res = out.pop("resolution", None)
    if isinstance(res, tuple):
        out |= {"input_h": res[0], "input_w": res[1], "input_c": res[2], "resolution_as_printed": cells["resolution"]}
    if out.get("plan") is not None and out["plan"] not in PLANS:
        raise fail("plan", f"expected one of {', '.join(PLANS)} (or empty: layer by layer), got {out['plan']!r}")
    approx = []
    for name in (a.strip() for a in cells.get("approx", "").split(";") if a.strip()):
        field = QUANTITIES[name][0] if name in QUANTITIES else name
        if field not in MEASURED_FIELDS:
            raise fail("approx", f"{name!r} is not a measured field; expected some of {', '.join(QUANTITIES)}")
        approx.append(field)
    out["approx"] = tuple(approx)
    return out


def _row(pf: ParsedModelFile, index: int, where: str, cells: dict[str, str]) -> None:
    def fail(col: str | None, msg: str) -> ModelFormatError:
        return ModelFormatError(pf.path, where, col, msg)

    for key in REQUIRED:
        if not cells.get(key):
            raise fail(key, "missing (required: board, runtime, model)")
    board, runtime, model = cells["board"], cells["runtime"], cells["model"]
    kw = _optional(cells, fail) | _quantities(cells, fail)
    kw.setdefault("model_kind", _kind_of(model))
    src = {"source_repo": "(local file)", "source_path": str(pf.path), "source_commit": f"sha256:{pf.sha256[:16]}",
           "source_section": where if not where[:1].isdigit() else f"line {where}"}
    kw = src | kw
    measured = {f: cells[c] for f, c in _given_columns(cells).items()}
    m = make(family=FAMILY, row_index=index, board=board_of(board), board_as_printed=board, mcu=mcu_of(board),
             runtime=runtime_of(runtime), runtime_as_printed=runtime, model=model, model_as_printed=model,
             runtime_version=cells.get("runtime_version") or None, cells=measured,
             caveats=(cells["caveat"],) if cells.get("caveat") else (),
             raw=json.dumps(cells, ensure_ascii=False, sort_keys=True),
             **{k: v for k, v in kw.items() if k != "runtime_version"})
    check_measurement(m, pf.path, where)
    pf.rows.append(m)


def _given_columns(cells: Mapping[str, str]) -> dict[str, str]:
    """Stored field → the column its value was read from."""
    out = {}
    for q, (field, _, bare_col, _) in QUANTITIES.items():
        for col in (q, bare_col):
            if cells.get(col):
                out[field] = col
    return out


def _csv(pf: ParsedModelFile, text: str) -> None:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ModelFormatError(pf.path, "1", None, "empty file; expected a CSV header") from None
    except csv.Error as e:
        raise ModelFormatError(pf.path, "1", None, f"cannot read CSV: {e}") from None
    _check_columns(pf.path, "1", header)
    try:
        rows = [(reader.line_num, r) for r in reader]
    except csv.Error as e:
        raise ModelFormatError(pf.path, str(reader.line_num), None, f"cannot read CSV: {e}") from None
    for line, values in rows:
        if not any(v.strip() for v in values):
            pf.skip(FAMILY, "blank row")
            continue
        if len(values) != len(header):
            raise ModelFormatError(pf.path, str(line), None, f"expected {len(header)} fields, found {len(values)}")
        _row(pf, line, str(line), {h: v.strip() for h, v in zip(header, values, strict=True)})


def _check_columns(path: Path, where: str, names: list[str]) -> None:
    unknown = sorted(set(names) - COLUMNS)
    if unknown:
        known = ", ".join(sorted(COLUMNS))
        raise ModelFormatError(path, where, unknown[0], f"unknown column; expected some of {known}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ModelFormatError(path, where, dup[0], "column given twice")


def _cell_text(pf: ParsedModelFile, where: str, key: str, v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        if key not in ("oom", "io_in_activation_ram"):
            raise ModelFormatError(pf.path, where, key, f"expected text or a number, got {v!r}")
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        if key in QUANTITIES:
            raise ModelFormatError(pf.path, where, key, f"{v!r} has no unit; write e.g. \"{v} KiB\" or use "
                                                        f"{QUANTITIES[key][2]!r} for a bare number")
        return repr(v)
    if isinstance(v, str):
        return v.strip()
    raise ModelFormatError(pf.path, where, key, f"expected text or a number, got {v!r}")


def _json(pf: ParsedModelFile, data: object) -> None:
    rows = data.get("measurements") if isinstance(data, dict) else data
    if isinstance(data, dict):
        extra = sorted(set(data) - {"measurements", "_about"})
        if extra:
            raise ModelFormatError(pf.path, "top level", extra[0], "unknown key; expected 'measurements' (a list)")
    if not isinstance(rows, list):
        raise ModelFormatError(pf.path, "top level", None, "expected a list of measurement objects or "
                                                           "{\"measurements\": [...]}")
    for i, row in enumerate(rows):
        where = f"row {i}"
        if not isinstance(row, dict):
            raise ModelFormatError(pf.path, where, None, f"expected an object, got {row!r}")
        _check_columns(pf.path, where, [str(k) for k in row])
        _row(pf, i, where, {str(k): _cell_text(pf, where, str(k), v) for k, v in row.items()})


def parse_model_file(path: str | os.PathLike[str]) -> ParsedModelFile:
    """Parse a whole-model measurement file: ``measurements.json`` of ``../shared/published`` (recognised by its
    family keys) or a user's CSV/JSON (module doc); raises :class:`ModelFormatError`, nothing half-read."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    raw = p.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ModelFormatError(p, "", None, f"not UTF-8 text: {e}") from None
    suffix = p.suffix.lower()
    if suffix == ".csv":
        pf = ParsedModelFile(p, sha, "model-measurements-csv")
        _csv(pf, text)
        return pf
    if suffix != ".json":
        raise ModelFormatError(p, "", None, f"expected a .csv or .json file, got {p.suffix or 'no suffix'!r}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFormatError(p, str(e.lineno), None, f"invalid JSON: {e.msg} (column {e.colno})") from None
    if is_published(data):
        return parse_published(p, sha, data)
    pf = ParsedModelFile(p, sha, "model-measurements-json")
    _json(pf, data)
    return pf
