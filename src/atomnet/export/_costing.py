"""``atomnet cost FILE.tflite``: any ``.tflite`` file costed like a spec, per operator and in total, for one runtime.

* **Latency** is priced on the graph of the runtime the board's AtomDB was measured with (X-CUBE-AI for the
  public data: :func:`~atomnet.export.file_graph` with its lowering, explicit pads, fused activations, whole SE
  modules), per atom operator: the exact AtomDB median when the key was measured, else the fitted predictor.
  Operators nothing prices are *unpriced* — float32 / int16 tensors (the AtomDB holds int8 kernels), element-wise
  functions other than ADD that were never measured (no extrapolation from ADD to MUL), non-square kernels or
  strides, operators outside the atom vocabulary (softmax, LSTM, SVDF, windowed pools, custom operators) — and
  the total is then a lower bound (``latency_is_lower_bound``).
* **SRAM**: ``tflm`` — TFLite Micro's whole arena from :func:`~atomnet.export.plan_tflm_arena`: the
  non-persistent head (activations) plus the persistent tail (tensor structures, quantization data, kernel
  state, variable tensors), as the Python interpreter (64-bit) allocates it, with the tail of a 32-bit Cortex-M
  build derived from the same rules beside it; ``tinyengine`` / ``xcube-ai`` — their planners on the file graph
  with their runtime's fusions (:mod:`atomnet.export._file_graph`).
* **Flash**: ``tflm`` — the file itself plus the runtime code; the others — the file's constant data (weights,
  biases, other operands) plus the runtime's per-channel extras and its code.

Per operator of the file: MACs and weights counted from the file, the constant bytes it reads, the live SRAM of
the layer that runs it, its latency and where that comes from (``exact`` | ``predicted`` | ``unpriced`` with the
reason; ``fused`` / ``dropped`` where the latency runtime runs it inside another layer or not at all).

>>> c = cost_tflite("person_detect.tflite", get_board("stm32h743"))          # doctest: +SKIP
>>> c.peak_sram_bytes, c.ops_unpriced, c.latency_is_lower_bound               # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from atomnet.cost import FitsBoard
from atomnet.errors import InputError
from atomnet.export._file_graph import FILE_RUNTIMES, FileGraph, file_graph
from atomnet.export._tflite import TFLiteModel, read_tflite
from atomnet.jsontypes import JSONDict

if TYPE_CHECKING:
    from atomnet.boards import Board
    from atomnet.cost import LatencyModel
    from atomnet.db import AtomDB
    from atomnet.runtimes import Runtime

__all__ = ["TFLiteCost", "TFLiteLayerCost", "cost_tflite"]

_WEIGHTED_TFLITE = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass(frozen=True)
class TFLiteLayerCost:
    """One operator of the file. ``atom_op``: the atom operator(s) the latency runtime runs for it (an X-CUBE-AI
    explicit pad first, "" when none); ``kind``: the last one's kind ("" when none); ``in_shape`` / ``out_shape``
    the file's shapes of its first activation input and first output; ``flash_bytes`` the constant data it reads
    (a constant shared by several operators counted at its first reader); ``live_sram_bytes`` the runtime's live
    SRAM while it runs (None where the runtime drops it); ``latency_ms`` None unless ``source`` is ``exact`` or
    ``predicted`` (``+transfer`` / ``+scaled`` on a runtime or board priced from another's rows); ``reason`` says
    why not; ``stage``: the run of consecutive operators with the same output resolution it belongs to (0-based)."""

    name: str
    op: str
    atom_op: str
    kind: str
    dtype: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    macs: int
    weights_bytes: int
    flash_bytes: int
    live_sram_bytes: int | None
    latency_ms: float | None
    source: str
    reason: str = ""
    stage: int = 0

    @property
    def priced(self) -> bool:
        return self.latency_ms is not None


@dataclass(frozen=True)
class TFLiteCost(FitsBoard):
    """The cost of a ``.tflite`` file on a board and runtime (units in the names; see the module docstring).

    ``peak_sram_bytes``: what the runtime needs in total (tflm: head + tail + runtime RAM); ``sram_breakdown``:
    ``activations`` (tflm: the head), ``scratch`` (buffers outside the arena), ``persistent`` (tflm: the tail),
    ``runtime``; ``persistent_32bit_derived_bytes``: the tflm tail of a 32-bit build (derived, None for the other
    runtimes); ``peak_sram_by_runtime_bytes``: the same file's peak under every runtime (None where it could not
    be planned); ``latency_ms``: the sum over priced operators, a lower bound when ``unpriced`` is not empty."""

    model: str
    board: str
    runtime: str
    latency_runtime: str
    ops: int
    macs: int
    weights_bytes: int
    const_bytes: int
    file_bytes: int
    code_bytes: int
    flash_bytes: int
    flash_breakdown: dict[str, int]
    peak_sram_bytes: int
    sram_breakdown: dict[str, int]
    persistent_32bit_derived_bytes: int | None
    peak_sram_by_runtime_bytes: dict[str, int | None]
    latency_ms: float
    latency_is_lower_bound: bool
    latency_by_kind_ms: dict[str, float]
    ops_exact: int
    ops_predicted: int
    ops_unpriced: int
    unpriced: tuple[tuple[str, str, str], ...]  # (operator name, TFLite operator, reason)
    scaled: bool
    predictor: str
    board_sram_bytes: int
    board_flash_bytes: int
    tflm_version: str
    notes: tuple[str, ...]
    layers: tuple[TFLiteLayerCost, ...]

    def to_dict(self) -> JSONDict:
        d: JSONDict = asdict(self)
        d.update(fits_sram=self.fits_sram, fits_flash=self.fits_flash, feasible=self.feasible)
        d["unpriced"] = [{"layer": n, "op": o, "reason": r} for n, o, r in self.unpriced]
        d["layers"] = [asdict(ly) for ly in self.layers]
        return d


@dataclass(frozen=True)
class _Memory:
    """The memory side of one runtime: peak, breakdown, live SRAM per file operator."""

    peak_bytes: int
    breakdown: dict[str, int]
    live: list[int | None]
    tail_32: int | None = None
    version: str = ""
    notes: tuple[str, ...] = ()


def cost_tflite(model: TFLiteModel | str | Path, board: Board | str, *, runtime: Runtime | str | None = None,
                db: AtomDB | None = None, latency_model: LatencyModel | None = None) -> TFLiteCost:
    """Cost ``model`` (a path, or a file already read; a file that does not parse or validate raises
    :class:`~atomnet.export.TFLiteError` naming it) on ``board`` for ``runtime`` (default ``tflm``: a ``.tflite``
    file is what TFLite Micro runs; any registered runtime or alias whose lowering has a file graph), latency from
    ``db`` (or ``latency_model``) as for a spec: see the module docstring."""
    from atomnet.boards import get_board
    from atomnet.runtimes import get_runtime

    m = model if isinstance(model, TFLiteModel) else read_tflite(model)
    b = get_board(board) if isinstance(board, str) else board
    rt = get_runtime(runtime or "tflm")
    if rt.lowering not in FILE_RUNTIMES:
        raise InputError(f"--runtime {rt.name}: its lowering {rt.lowering!r} has no .tflite file graph; "
                         f"cost a file for {', '.join(FILE_RUNTIMES)}")
    lm, why_no_lm = _latency_model(b, db, latency_model, rt.name)
    lat_lowering = _lat_lowering(lm)
    graphs = {lat_lowering: file_graph(m, lat_lowering)}
    lat_rows = _price(graphs[lat_lowering], lm, why_no_lm)
    mems = {name: _memory_or_none(m, name, graphs) for name in ("tflm", "tinyengine", "xcube-ai")}
    mem = mems.get(rt.name) or _memory(m, rt, graphs)  # a runtime that cannot plan the file raises here
    return _assemble(m, b, rt, lm, graphs, lat_lowering, lat_rows, mem, mems)


def _latency_model(b: Board, db: AtomDB | None, lm: LatencyModel | None,
                   runtime: str) -> tuple[LatencyModel | None, str]:
    from atomnet.cost import load_latency_model
    from atomnet.db import NoPredictorError

    if lm is not None:
        return lm, ""
    try:
        return load_latency_model(b, db, for_runtime=runtime), ""
    except NoPredictorError as e:
        return None, str(e.args[0]) if e.args else str(e)


def _lat_lowering(lm: LatencyModel | None) -> str:
    from atomnet.runtimes import get_runtime

    low = get_runtime(lm.runtime).lowering if lm is not None else "xcube-ai"
    if low not in FILE_RUNTIMES:
        raise InputError(f"the latency measurements were taken with runtime {lm.runtime if lm else ''!r}, whose "
                         f"lowering {low!r} has no .tflite file graph ({', '.join(FILE_RUNTIMES)})")
    return low


def _price(fg: FileGraph, lm: LatencyModel | None, why_no_lm: str) -> list[tuple[float | None, bool, str]]:
    """``(latency ms or None, exact, reason)`` per layer of the latency graph."""
    out: list[tuple[float | None, bool, str]] = [(None, False, ly.unpriced) for ly in fg.layers]
    todo = [k for k, ly in enumerate(fg.layers) if ly.atom is not None and not ly.unpriced]
    for k, ly in enumerate(fg.layers):
        if ly.atom is None and not ly.unpriced:
            out[k] = (None, False, "no atom operator")
    if lm is None:
        return [(None, False, r or why_no_lm) for _, _, r in out]
    keys = [fg.layers[k].atom.key for k in todo]  # type: ignore[union-attr]
    lat, exact = lm.price_keys_partial(keys)
    for k, key, v, e in zip(todo, keys, lat.tolist(), exact.tolist(), strict=True):
        out[k] = (None, False, lm.unpriced_reason(key) or "not priced") if np.isnan(v) else (float(v), bool(e), "")
    return out


def _graph(m: TFLiteModel, lowering: str, graphs: dict[str, FileGraph]) -> FileGraph:
    if lowering not in graphs:
        graphs[lowering] = file_graph(m, lowering)
    return graphs[lowering]


def _memory_or_none(m: TFLiteModel, name: str, graphs: dict[str, FileGraph]) -> _Memory | None:
    from atomnet.runtimes import get_runtime

    try:
        return _memory(m, get_runtime(name), graphs)
    except (InputError, ValueError):  # e.g. TFLM's arena rules refuse the file: that runtime's peak is unknown
        return None


def _memory(m: TFLiteModel, rt: Runtime, graphs: dict[str, FileGraph]) -> _Memory:
    from atomnet.cost import get_planner, sram_breakdown

    if rt.lowering == "tflm" and rt.planner == "tflm":
        return _tflm_memory(m, rt)
    fg = _graph(m, rt.lowering, graphs)
    plan = get_planner(rt.planner).plan(fg.graph)
    live: list[int | None] = []
    for i in range(len(m.ops)):
        k = fg.layer_running(i)
        live.append(None if k is None else int(plan.live_bytes[k]))
    return _Memory(int(plan.peak_bytes) + rt.ram_overhead_bytes,
                   {"persistent": 0, **sram_breakdown(plan, rt.name)}, live)


def _tflm_memory(m: TFLiteModel, rt: Runtime) -> _Memory:
    from atomnet.export._arena import plan_tflm_arena

    a = plan_tflm_arena(m)  # a file TFLM cannot plan raises TFLiteError naming why (exit 2 in the CLI)
    notes = tuple(f"tflm arena: {n}" for n in a.notes)
    live = [int(v) for v in a.live_bytes]
    return _Memory(int(a.total_bytes) + rt.ram_overhead_bytes,
                   {"activations": int(a.head_bytes), "scratch": 0, "persistent": int(a.tail_bytes),
                    "runtime": rt.ram_overhead_bytes}, [*live, *([None] * (len(m.ops) - len(live)))],
                   tail_32=int(a.tail_bytes_32), version=str(a.tflm_version), notes=notes)


def _flash(m: TFLiteModel, rt: Runtime, graphs: dict[str, FileGraph]) -> dict[str, int]:
    """Flash parts: the file's filters, biases and other constants; the runtime's per-channel extras (not tflm:
    they are in the file) and the flatbuffer structure (tflm only); runtime code."""
    seen_w = {op.inputs[1] for op in m.ops if op.name in _WEIGHTED_TFLITE and len(op.inputs) > 1}
    seen_b = {op.inputs[2] for op in m.ops if op.name in _WEIGHTED_TFLITE and len(op.inputs) > 2
              and op.inputs[2] >= 0} - seen_w
    weights = sum(m.tensors[i].const_bytes for i in seen_w)
    bias = sum(m.tensors[i].const_bytes for i in seen_b)
    parts = {"weights": weights, "bias": bias, "constants": m.const_bytes - weights - bias, "quant": 0,
             "flatbuffer": 0, "code": rt.flash.code_bytes}
    if rt.lowering == "tflm":
        parts["flatbuffer"] = m.file_bytes - m.const_bytes
    else:
        fg = _graph(m, rt.lowering, graphs)
        parts["quant"] = sum(rt.flash.layer(ly.atom)[2] for ly in fg.layers if ly.atom is not None)
    return parts


def _stages(m: TFLiteModel) -> list[int]:
    """A stage per run of consecutive operators with the same output resolution (a CNN's stages; the last run,
    pooled to 1×1, is its head); a file without spatial tensors is one stage."""
    out, stage, prev = [], 0, None
    for op in m.ops:
        shape = m.tensors[op.outputs[0]].shape if op.outputs else ()
        hw = (shape[1], shape[2]) if len(shape) == 4 else (1, 1)
        if prev is not None and hw != prev:
            stage += 1
        out.append(stage)
        prev = hw
    return out


def _rows(m: TFLiteModel, fg: FileGraph, priced: list[tuple[float | None, bool, str]], mem: _Memory,
          scaled: bool, transfer: bool = False) -> list[TFLiteLayerCost]:
    seen: set[int] = set()
    rows = []
    stages = _stages(m)
    for op in m.ops:
        ks = fg.layers_of(op.index)
        consts = [i for i in op.inputs if i >= 0 and m.tensors[i].is_constant and i not in seen]
        seen.update(consts)
        acts = m.activation_inputs(op)
        lat, source, reason = _latency_of(ks, priced, fg.placement[op.index], scaled, transfer)
        atoms = [fg.layers[k].atom for k in ks]
        desc = " + ".join(a.describe() for a in atoms if a is not None)
        last = atoms[-1] if atoms else None
        out = m.tensors[op.outputs[0]] if op.outputs else None
        rows.append(TFLiteLayerCost(
            f"{op.index}.{op.name}", op.name, desc, last.kind if last is not None else "",
            (m.tensors[acts[0]] if acts else out).dtype if (acts or out) else "",  # type: ignore[union-attr]
            m.tensors[acts[0]].shape if acts else (), out.shape if out is not None else (), m.op_macs(op),
            m.tensors[op.inputs[1]].const_bytes if op.name in _WEIGHTED_TFLITE and len(op.inputs) > 1 else 0,
            sum(m.tensors[i].const_bytes for i in consts), mem.live[op.index], lat, source, reason,
            stages[op.index]))
    return rows


def _latency_of(ks: Sequence[int], priced: list[tuple[float | None, bool, str]], placement: str,
                scaled: bool, transfer: bool = False) -> tuple[float | None, str, str]:
    """``(latency, source, reason)`` of one file operator from the latency-graph layers reported under it."""
    if not ks:
        src = "fused" if placement.startswith("fused") else "dropped"
        return None, src, placement.removeprefix("dropped: ")
    parts = [priced[k] for k in ks]
    why = next((r for v, _, r in parts if v is None), None)
    if why is not None:
        return None, "unpriced", why
    src = "exact" if all(e for _, e, _ in parts) else "predicted"
    suffix = "+transfer" if transfer else "+scaled" if scaled else ""
    return float(sum(v or 0.0 for v, _, _ in parts)), src + suffix, ""


def _assemble(m: TFLiteModel, b: Board, rt: Runtime, lm: LatencyModel | None, graphs: dict[str, FileGraph],
              lat_lowering: str, priced: list[tuple[float | None, bool, str]], mem: _Memory,
              mems: dict[str, _Memory | None]) -> TFLiteCost:
    fg = graphs[lat_lowering]
    scaled = b.is_scaled and lm is not None
    rows = _rows(m, fg, priced, mem, scaled, lm is not None and lm.transfer is not None)
    by_kind: dict[str, float] = defaultdict(float)
    for ly, (v, _, _) in zip(fg.layers, priced, strict=True):
        if v is not None and ly.atom is not None:
            by_kind[ly.atom.kind] += v
    unpriced = tuple((r.name, r.op, r.reason) for r in rows if r.source == "unpriced")
    flash = _flash(m, rt, graphs)
    return TFLiteCost(
        model=m.path, board=b.name, runtime=rt.name, latency_runtime=fg.runtime, ops=len(m.ops), macs=m.macs,
        weights_bytes=m.weight_bytes, const_bytes=m.const_bytes, file_bytes=m.file_bytes,
        code_bytes=rt.flash.code_bytes, flash_bytes=sum(flash.values()), flash_breakdown=flash,
        peak_sram_bytes=mem.peak_bytes, sram_breakdown=mem.breakdown, persistent_32bit_derived_bytes=mem.tail_32,
        peak_sram_by_runtime_bytes={k: (v.peak_bytes if v is not None else None) for k, v in mems.items()},
        latency_ms=float(sum(r.latency_ms for r in rows if r.latency_ms is not None)),
        latency_is_lower_bound=bool(unpriced), latency_by_kind_ms=dict(by_kind),
        ops_exact=sum(r.source.startswith("exact") for r in rows),
        ops_predicted=sum(r.source.startswith("predicted") for r in rows), ops_unpriced=len(unpriced),
        unpriced=unpriced, scaled=scaled, predictor=lm.predictor_origin if lm is not None else "none",
        board_sram_bytes=b.sram_bytes, board_flash_bytes=b.flash_bytes,
        tflm_version=mem.version or getattr(mems.get("tflm"), "version", ""),
        notes=(*m.notes, *mem.notes), layers=tuple(rows))
