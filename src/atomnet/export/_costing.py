"""``atomnet cost FILE.tflite``: what a validated full-integer int8 file gives without measurements — MACs,
weights, Flash (the file + runtime code) and the TFLite Micro arena of our ``tflm`` planner (which equals TFLM's
non-persistent head, see ``atomnet verify``); latency is not priced for ``.tflite`` files yet."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from atomnet.cost import FitsBoard
from atomnet.errors import InputError
from atomnet.export._tflite import TFLiteModel, read_tflite
from atomnet.export._verify import int8_problems

_WEIGHTED_TFLITE = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass(frozen=True)
class TFLiteLayerCost:
    name: str
    op: str
    macs: int
    weights_bytes: int
    live_sram_bytes: int


@dataclass(frozen=True)
class TFLiteCost(FitsBoard):
    """The cost of an int8 ``.tflite`` file on a board under TFLite Micro (``latency_ms`` is None: not priced)."""

    model: str
    board: str
    ops: int
    macs: int
    weights_bytes: int
    const_bytes: int
    file_bytes: int
    code_bytes: int
    flash_bytes: int
    peak_sram_bytes: int
    board_sram_bytes: int
    board_flash_bytes: int
    layers: tuple[TFLiteLayerCost, ...]
    runtime: str = "tflm"
    latency_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(fits_sram=self.fits_sram, fits_flash=self.fits_flash, feasible=self.feasible)
        d["layers"] = [asdict(ly) for ly in self.layers]
        return d


def cost_tflite(model: TFLiteModel | str | Path, board: Any) -> TFLiteCost:
    """Validate ``model`` (a path, or a file already read: :class:`~atomnet.export.TFLiteError` naming what is
    wrong), refuse a model that is not full-integer int8, and cost it for TFLite Micro on ``board`` (a
    :class:`~atomnet.boards.Board`).

    >>> cost_tflite("demo.tflite", get_board("stm32h743")).peak_sram_bytes   # doctest: +SKIP
    30032
    """
    from atomnet.cost import flash_breakdown, get_planner

    m = model if isinstance(model, TFLiteModel) else read_tflite(model)
    probs = int8_problems(m)
    if probs:
        more = f" and {len(probs) - 1} more" if len(probs) > 1 else ""
        first = probs[0] if len(probs[0]) <= 160 else probs[0][:159] + "…"
        raise InputError(f"{m.path}: not a full-integer int8 model ({first}{more}); costing a "
                         f".tflite is supported for int8 models only; use 'atomnet verify {m.path}'")
    graph = m.to_graph()
    plan = get_planner("tflm").plan(graph)
    code = int(flash_breakdown(graph, "tflm")["code"])
    layers = tuple(TFLiteLayerCost(ly.name, ly.tflite_op, m.op_macs(m.ops[i]), _weights(m, i),
                                   int(plan.live_bytes[i])) for i, ly in enumerate(graph.layers))
    return TFLiteCost(model=m.path, board=board.name, ops=len(m.ops), macs=m.macs, weights_bytes=m.weight_bytes,
                      const_bytes=m.const_bytes, file_bytes=m.file_bytes, code_bytes=code,
                      flash_bytes=m.file_bytes + code, peak_sram_bytes=int(plan.peak_bytes),
                      board_sram_bytes=board.sram_bytes, board_flash_bytes=board.flash_bytes, layers=layers)


def _weights(m: TFLiteModel, i: int) -> int:
    op = m.ops[i]
    if op.name in _WEIGHTED_TFLITE:
        return int(m.tensors[op.inputs[1]].const_bytes)
    return 0
