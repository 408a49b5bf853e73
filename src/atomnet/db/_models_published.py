"""Importer of ``../shared/published/measurements.json``: each family's rows as whole-model measurements.

What each family measures, and how its cells are read (``NOTES.md`` beside the file):

* ``stm32ai_modelzoo`` (ST model zoo MCU tables): activation RAM, runtime RAM, weights and code Flash, their
  totals (KiB = 1024 B), inference time and clock. ``approx_fields`` (``~21 KiB`` in 7.3.0) mark the runtime
  RAM and code Flash approximate; ``7.3.0 (inferred)`` versions are stored as 7.3.0 with the basis as a caveat.
  Activation RAM includes the input/output buffers (``io_buffers``).
* ``stm32ai_modelzoo_summary_tables``: activation RAM and weights Flash only (KiB); the board is the one the
  rows' ``footprint_note`` names (STM32H747I-DISCO).
* ``mlperf_tiny``: latency = 1000 / the median throughput printed in ``performance/results.txt`` (flagged
  derived); rows with only an energy figure (``sww``) are skipped.
* ``tinyengine_measured_without_xcube``: latency, peak SRAM (stored as ``total_ram_bytes``: arena, scratch and
  kernel buffers, as measured) and Flash (``total_flash_bytes``: weights and code), read from the printed cells.
  Their ``kB`` is **1024 B**: the peaks of the nine nets whose TinyEngine peak SRAM is known to the byte (FACTS
  §3: mcunet-in0…in4, vww0…2, proxyless-w0.3-r176; e.g. mcunet-in3 266,344 B) are printed 49, 96, 215, 260,
  416, 59, 92, 174, 259 kB on the H743 — each is bytes/1024 rounded, none is bytes/1000. ``OOM`` cells are
  stored as ``oom`` without numbers; the ``"54kB"`` latency cells of proxyless-w0.3-r64 (a size unit on a time)
  are not stored.
* ``mcunet_model_zoo``: peak SRAM and Flash measured with TinyEngine on the F746 (``kB`` as above; the same
  authors, whose model names ``320kB``/``1mb`` are the F746's 320 KiB SRAM and 1 MiB Flash).
* ``mcunetv2_paper``: Table 2 (SRAM, Flash; ``kB`` = 1024 B as the paper's Table 1 analytic 1,372 kB =
  1,404,928 B, the 112²·(16 + 96) B of MobileNetV2's widest layer) and Table 3 (peak SRAM). Bounds (``<256kB``)
  are not measurements; Tables 1 and 5 are analytic; the claims and the tutorial config measure nothing.
* ``tinyops``: latency and clock; ``TinyOps`` design-space rows ran with weights in external memory
  (``plan="tinyops"``). The code-constants row measures nothing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from atomnet.db._models_names import board_of, mcu_of, runtime_of, version_of
from atomnet.db._models_schema import ModelFormatError, ModelMeasurement, ParsedModelFile, check_measurement, make
from atomnet.db._models_values import CellError, kib_bytes, resolution

FORMAT = "published-measurements-json"
FAMILIES = ("stm32ai_modelzoo", "stm32ai_modelzoo_summary_tables", "mlperf_tiny",
            "tinyengine_measured_without_xcube", "mcunet_model_zoo", "mcunetv2_paper", "tinyops")
META_KEYS = ("_about", "_meta")
KB_BYTES = 1024  # the TinyEngine / MCUNet / MCUNetV2 "kB" (module doc)
_KB_CELL = re.compile(r"(\d+(?:\.\d+)?)\s*kB")
_MS_CELL = re.compile(r"(\d+(?:\.\d+)?)\s*ms")
#: ST ``approx_fields`` labels → the stored field
_ST_APPROX = {"runtime ram": "runtime_ram_bytes", "code flash": "code_flash_bytes",
              "activation ram": "activation_ram_bytes", "weights flash": "weights_flash_bytes"}
_ST_KIB = (("activation_ram_kib", "activation_ram_bytes"), ("runtime_ram_kib", "runtime_ram_bytes"),
           ("weights_flash_kib", "weights_flash_bytes"), ("code_flash_kib", "code_flash_bytes"),
           ("total_ram_kib", "total_ram_bytes"), ("total_flash_kib", "total_flash_bytes"))


class Skip(Exception):
    """The row measures nothing the table holds; the message is the reason (counted per family)."""


class _Row:
    """Typed access to one published row; errors name ``file: family[index]: field``."""

    def __init__(self, path: Path, family: str, index: int, row: Mapping[str, object]) -> None:
        self.path, self.family, self.index, self.row = path, family, index, row
        self.where = f"{family}[{index}]"

    def fail(self, key: str | None, msg: str) -> ModelFormatError:
        return ModelFormatError(self.path, self.where, key, msg)

    def text(self, key: str) -> str | None:
        v = self.row.get(key)
        if v is None:
            return None
        if not isinstance(v, str):
            raise self.fail(key, f"expected text, got {v!r}")
        return v

    def need(self, key: str) -> str:
        v = self.text(key)
        if not v:
            raise self.fail(key, "missing")
        return v

    def num(self, key: str) -> float | None:
        v = self.row.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise self.fail(key, f"expected a non-negative number, got {v!r}")
        return float(v)

    def count(self, key: str) -> int | None:
        v = self.num(key)
        if v is not None and not v.is_integer():
            raise self.fail(key, f"expected a whole number, got {v!r}")
        return None if v is None else int(v)

    def source(self, section: str | None = None) -> dict[str, str]:
        src = self.row.get("source")
        if isinstance(src, str) and src:  # a paper: no repository
            return {"source_repo": src, "source_path": "(paper text)", "source_commit": "(not a repository)",
                    "source_section": section or "(not stated)"}
        if not isinstance(src, Mapping):
            raise self.fail("source", f"expected an object with repo, path and commit, got {src!r}")
        path = src.get("path") or "; ".join(str(p) for p in src.get("paths") or ())
        repo, commit = src.get("repo"), src.get("commit")
        if not (isinstance(repo, str) and repo and isinstance(commit, str) and commit and path):
            raise self.fail("source", f"expected repo, path and commit, got {src!r}")
        sec = section or src.get("section") or "(not stated)"
        return {"source_repo": repo, "source_path": str(path), "source_commit": commit, "source_section": str(sec)}

    def raw(self) -> str:
        return json.dumps(self.row, ensure_ascii=False, sort_keys=True)


def _board(printed: str) -> dict[str, str | None]:
    return {"board": board_of(printed), "mcu": mcu_of(printed)}


def _res(r: _Row, key: str) -> dict[str, int | None]:
    v = r.row.get(key)
    if v is None:
        return {}
    try:
        h, w, c = resolution(str(v))
    except CellError as e:
        raise r.fail(key, str(e)) from None
    return {"input_h": h, "input_w": w, "input_c": c}


def _st_common(r: _Row) -> tuple[dict[str, object], list[str]]:
    tool, version = r.need("tool"), r.need("tool_version")
    caveats = []
    if version.endswith("(inferred)"):
        version = version.removesuffix("(inferred)").strip()
        caveats.append(f"tool version {version} inferred: {r.text('tool_version_basis') or 'basis not stated'}")
    name, file = r.need("model_name"), r.text("model_file")
    kw: dict[str, object] = {
        "runtime": runtime_of(tool), "runtime_as_printed": tool, "runtime_version": version,
        "model": file or name, "model_kind": "tflite" if file else "name", "model_as_printed": name,
        "architecture": r.text("architecture"), "dataset": r.text("dataset"), "num_classes": r.count("num_classes"),
        "resolution_as_printed": r.text("input_resolution"), **_res(r, "input_resolution")}
    for key in ("input_h", "input_w", "input_c"):  # the row's own fields, where given, over the printed text
        if r.row.get(key) is not None:
            kw[key] = r.count(key)
    return kw, caveats


def _stm32ai_modelzoo(r: _Row) -> ModelMeasurement:
    kw, caveats = _st_common(r)
    board = r.need("board")
    printed = r.text("board_as_printed") or board
    for key in ("board_note", "cell_typo", "caveat"):
        if r.text(key):
            caveats.append(str(r.text(key)))
    approx = []
    labels = r.row.get("approx_fields") or []
    if not isinstance(labels, list):
        raise r.fail("approx_fields", f"expected a list of field names, got {labels!r}")
    for label in labels:
        if label not in _ST_APPROX:
            raise r.fail("approx_fields", f"unknown field {label!r}; expected some of {sorted(_ST_APPROX)}")
        approx.append(_ST_APPROX[str(label)])
    cells: dict[str, str] = {}
    sizes: dict[str, object] = {}
    for key, col in _ST_KIB:
        v = r.num(key)
        if v is not None:
            sizes[col], cells[col] = kib_bytes(v), f"{key}: {v:g}"
    lat = r.num("inference_time_ms")
    if lat is not None:
        cells["latency_ms"] = f"inference_time_ms: {lat:g}"
    io = r.text("io_buffers") or ""
    return make(
        family=r.family, row_index=r.index, board_as_printed=printed, **_board(board), **kw,
        quantization=r.text("format"), latency_ms=lat, clock_mhz=r.num("frequency_mhz"),
        io_in_activation_ram=True if io.startswith("activation RAM includes input/output buffers") else None,
        approx=tuple(approx), caveats=tuple(caveats), cells=cells, **sizes, **r.source(_st_section(r)),
        raw=r.raw())


def _st_section(r: _Row) -> str | None:
    src = r.row.get("source")
    if not isinstance(src, Mapping):
        return None
    parts = []
    if src.get("memory_table"):
        parts.append(f"memory: {src['memory_table']}")
    if src.get("timing_table"):
        tp = src.get("timing_path")
        where = f" ({tp})" if tp and tp != src.get("path") else ""
        parts.append(f"timing: {src['timing_table']}{where}")
    return "; ".join(parts) or None


def _summary_tables(r: _Row) -> ModelMeasurement:
    kw, caveats = _st_common(r)
    note = r.need("footprint_note")
    m = re.search(r"targeting (\S+)", note)
    if not m:
        raise r.fail("footprint_note", f"names no target board: {note!r}")
    caveats.append(f"board from the footprint note: {note}")
    cells: dict[str, str] = {}
    sizes: dict[str, object] = {}
    for key, col in _ST_KIB[:1] + _ST_KIB[2:3]:
        v = r.num(key)
        if v is not None:
            sizes[col], cells[col] = kib_bytes(v), f"{key}: {v:g}"
    return make(family=r.family, row_index=r.index, board_as_printed=m.group(1), **_board(m.group(1)),
                            **kw, caveats=tuple(caveats), cells=cells, **sizes,
                            **r.source(r.text("section")), raw=r.raw())


def _mlperf(r: _Row) -> ModelMeasurement:
    tput = r.num("throughput_inf_per_s")
    if tput is None:
        raise Skip("no latency: an energy-only result (no performance-mode throughput)")
    if tput <= 0:
        raise r.fail("throughput_inf_per_s", f"expected a positive throughput, got {tput!r}")
    board, soc, fw = r.need("board"), r.text("soc") or "", r.need("framework")
    caveats = [r.need("latency_note")]
    if r.text("caveat"):
        caveats.append(str(r.text("caveat")))
    if soc and mcu_of(soc) != mcu_of(board):
        caveats.append(f"the system description's soc {soc!r} is not the board's MCU {mcu_of(board)}; "
                       f"mcu read from the board {board!r}")
    bench = r.need("benchmark")
    section = (f"{r.need('mlperf_tiny_version')} {r.need('division')} {r.need('submitter')} "
               f"{r.need('system_dir')} {bench}")
    return make(
        family=r.family, row_index=r.index, board_as_printed=board, **_board(board), runtime=runtime_of(fw),
        runtime_as_printed=fw, runtime_version=version_of(fw), model=r.need("reference_model"), model_kind="name",
        model_as_printed=r.need("reference_model"), dataset=f"MLPerf Tiny {bench}",
        quantization=r.text("quantization"), latency_ms=1000.0 / tput, clock_mhz=r.num("clock_mhz"),
        caveats=tuple(caveats), cells={"latency_ms": f"throughput_inf_per_s: {tput:g}"}, **r.source(section),
        raw=r.raw())


def _kb_cell(r: _Row, key: str, number_key: str | None, col: str, out: dict[str, object],
             not_stored: dict[str, str]) -> None:
    """A printed ``"163kB"`` cell into ``out[col]`` (bytes); anything else is left out, with the reason."""
    text = r.text(key)
    if text is None or text == "OOM":
        return
    m = _KB_CELL.fullmatch(text.strip())
    if not m:
        not_stored[col] = f"printed {text!r}: not a size in kB"
        return
    v = float(m.group(1))
    if number_key is not None and r.num(number_key) != v:
        raise r.fail(number_key, f"{r.row.get(number_key)!r} is not the printed cell {text!r}")
    out[col] = round(v * KB_BYTES)


def _tinyengine(r: _Row) -> ModelMeasurement:
    rt, board, net = r.need("runtime"), r.need("board"), r.need("net_id")
    oom = r.row.get("oom") is True
    sizes: dict[str, object] = {}
    not_stored: dict[str, str] = {}
    cells = {"latency_ms": r.need("latency_cell"), "total_ram_bytes": r.need("peak_sram_cell"),
             "total_flash_bytes": r.need("flash_cell")}
    _kb_cell(r, "peak_sram_cell", "peak_sram_kB", "total_ram_bytes", sizes, not_stored)
    _kb_cell(r, "flash_cell", "flash_kB", "total_flash_bytes", sizes, not_stored)
    lat = None
    lat_cell = cells["latency_ms"].strip()
    if (m := _MS_CELL.fullmatch(lat_cell)) is not None:
        lat = float(m.group(1))
        if r.num("latency_ms") != lat:
            raise r.fail("latency_ms", f"{r.row.get('latency_ms')!r} is not the printed cell {lat_cell!r}")
    elif lat_cell != "OOM":
        not_stored["latency_ms"] = f"printed {lat_cell!r}: not a time in ms"
    caveats = [str(r.text("caveat"))] if r.text("caveat") else []
    if r.text("net_id_current_name"):
        caveats.append(f"old net id {net}; current name {r.text('net_id_current_name')}")
    return make(
        family=r.family, row_index=r.index, board_as_printed=board, **_board(board), runtime=runtime_of(rt),
        runtime_as_printed=rt, runtime_version=version_of(rt), model=net, model_kind="name", model_as_printed=net,
        quantization=r.text("quantization"), latency_ms=lat, oom=oom, caveats=tuple(caveats), cells=cells,
        not_stored=not_stored, **sizes, **r.source(), raw=r.raw())


def _mcunet_zoo(r: _Row) -> ModelMeasurement:
    rt, board, net = r.need("runtime"), r.need("board"), r.need("net_id")
    cells: dict[str, str] = {}
    sizes: dict[str, object] = {}
    for key, col in (("sram_kB", "total_ram_bytes"), ("flash_kB", "total_flash_bytes")):
        v = r.num(key)
        if v is not None:
            sizes[col], cells[col] = round(v * KB_BYTES), f"{key}: {v:g}"
    return make(
        family=r.family, row_index=r.index, board_as_printed=board, **_board(board), runtime=runtime_of(rt),
        runtime_as_printed=rt, runtime_version=version_of(rt), model=net, model_kind="name", model_as_printed=net,
        dataset=r.text("dataset"), num_classes=r.count("num_classes"), **_res(r, "input_resolution"),
        resolution_as_printed=str(r.row.get("input_resolution")), quantization=r.text("quantization"),
        caveats=(f"old net id {r.text('old_net_id')}",) if r.text("old_net_id") else (), cells=cells,
        **sizes, **r.source(), raw=r.raw())


def _mcunetv2(r: _Row) -> ModelMeasurement:
    table = r.text("table") or ""
    if not table.startswith(("Table 2", "Table 3")):
        why = "analytic peak memory, not a measurement" if table.startswith(("Table 1", "Table 5")) else \
            "a claim or a configuration, not a measurement"
        raise Skip(why)
    sizes: dict[str, object] = {}
    not_stored: dict[str, str] = {}
    pairs = (("sram", "total_ram_bytes"), ("flash", "total_flash_bytes"), ("peak_sram", "total_ram_bytes"))
    cells = {col: str(r.text(key)) for key, col in pairs if r.text(key)}
    for key, col in pairs:
        _kb_cell(r, key, None, col, sizes, not_stored)
    if not sizes:
        raise Skip("bounds only (e.g. '<256kB'), no measured value")
    board, lib = r.need("board"), r.text("library")
    caveats = [] if lib else ["runtime not stated in this table"]
    if r.text("profiling"):
        caveats.append(str(r.text("profiling")))
    return make(
        family=r.family, row_index=r.index, board_as_printed=board, **_board(board), runtime=runtime_of(lib),
        runtime_as_printed=lib, runtime_version=None, model=r.need("model"), model_kind="name",
        model_as_printed=r.need("model"), quantization=r.text("quant"),
        dataset=next((d for d in ("ImageNet", "Pascal VOC") if d in table), None),
        plan="patch-based" if lib and "patch-based" in lib else None, caveats=tuple(caveats), cells=cells,
        not_stored=not_stored, **sizes, **r.source(table), raw=r.raw())


def _tinyops(r: _Row) -> ModelMeasurement:
    lat = r.num("latency_ms")
    if lat is None:
        raise Skip("code constants, not measurements")
    board, rt, design = r.need("board"), r.need("runtime"), r.need("design_space")
    if design not in ("Internal", "TinyOps"):
        raise r.fail("design_space", f"expected Internal or TinyOps, got {design!r}")
    return make(
        family=r.family, row_index=r.index, board_as_printed=board, **_board(board), runtime=runtime_of(rt),
        runtime_as_printed=rt, runtime_version=None, model=r.need("model"), model_kind="name",
        model_as_printed=r.need("model"), dataset=r.text("dataset"), num_classes=r.count("num_classes"),
        quantization=r.text("quantization"), plan="tinyops" if design == "TinyOps" else None, latency_ms=lat,
        clock_mhz=r.num("clock_mhz"), caveats=(f"clock: {r.text('clock_basis')}",) if r.text("clock_basis") else (),
        cells={"latency_ms": f"latency_ms: {lat:g}"}, **r.source(), raw=r.raw())


PARSERS: dict[str, Callable[[_Row], ModelMeasurement]] = {
    "stm32ai_modelzoo": _stm32ai_modelzoo, "stm32ai_modelzoo_summary_tables": _summary_tables,
    "mlperf_tiny": _mlperf, "tinyengine_measured_without_xcube": _tinyengine, "mcunet_model_zoo": _mcunet_zoo,
    "mcunetv2_paper": _mcunetv2, "tinyops": _tinyops,
}


def is_published(data: object) -> bool:
    """Whether a loaded JSON document is the published-measurements file (an object of family lists)."""
    return isinstance(data, dict) and any(k in PARSERS for k in data)


def parse_published(path: Path, sha256: str, data: Mapping[str, object]) -> ParsedModelFile:
    """Every family's rows of a loaded ``measurements.json`` (module doc); unknown keys are errors."""
    out = ParsedModelFile(path, sha256, FORMAT)
    unknown = [k for k in data if k not in PARSERS and k not in META_KEYS]
    if unknown:
        raise ModelFormatError(path, "top level", unknown[0], f"unknown family; expected some of "
                                                               f"{', '.join(FAMILIES)} (and {', '.join(META_KEYS)})")
    for family in FAMILIES:
        rows = data.get(family)
        if rows is None:
            continue
        if not isinstance(rows, list):
            raise ModelFormatError(path, "top level", family, "expected a list of rows")
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise ModelFormatError(path, f"{family}[{i}]", None, f"expected an object, got {row!r}")
            r = _Row(path, family, i, row)
            try:
                m = PARSERS[family](r)
            except Skip as s:
                out.skip(family, str(s))
                continue
            check_measurement(m, path, r.where)
            out.rows.append(m)
    return out
