"""Whole-model cost: latency (Σ atom operators), Flash and peak SRAM per runtime → :class:`CostReport`.

Latency is priced on the lowering of the runtime the AtomDB was measured with (X-CUBE-AI for the
public data): each operator's exact median when the key was measured, else its predictor (kernel
additivity, AtomNet §3). SRAM comes from the chosen runtime's planner over tensor lifetimes; Flash is
the weights plus the runtime's per-layer extras plus its code, shown apart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from atomnet.boards import Board, get_board
from atomnet.cost._flash import flash_breakdown
from atomnet.cost._latency import LatencyModel, load_latency_model
from atomnet.cost._sram import act_bytes, get_planner
from atomnet.db import AtomDB
from atomnet.spec import ModelSpec, lower, spec_macs, spec_params
from atomnet.spec._graph import Graph

#: SRAM the runtime itself needs beyond the activation arena (bytes), shown apart in the report. Documented
#: constants, 0 where nothing was measured: X-CUBE-AI's published 232 KB for atomnet-256kb is the activation
#: buffer alone (FACTS §2), TinyEngine's published peaks are arena + im2col + kernel buffers (FACTS §3, all
#: inside our planner), and TFLM's persistent arena (tensor metadata, kernel state) is measured by
#: ``atomnet verify`` on the real interpreter, not estimated here.
RUNTIME_SRAM_OVERHEAD_BYTES: dict[str, int] = {"xcube-ai": 0, "tinyengine": 0, "tflm": 0}

#: lowering that matches the measurements of each runtime name found in AtomDB provenance
MEASURED_LOWERING = {"x-cube-ai": "xcube-ai", "xcube-ai": "xcube-ai", "tflm": "tflm", "tinyengine": "tinyengine"}


@dataclass(frozen=True)
class LayerCost:
    name: str
    kind: str
    op: str
    stage: int
    block: int
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    macs: int
    weights_bytes: int
    flash_bytes: int
    live_sram_bytes: int | None
    latency_ms: float
    source: str  # exact | predicted (| +scaled)


@dataclass(frozen=True)
class CostReport:
    """The cost of one model on one board and runtime. Units are in the field names."""

    model: str
    board: str
    runtime: str
    latency_runtime: str
    macs: int
    params: int
    weights_bytes: int
    flash_bytes: int
    flash_breakdown: dict[str, int]
    peak_sram_bytes: int
    sram_breakdown: dict[str, int]
    act_bytes: int  # MCUNet's "Act": largest input+output activation of a layer (+ pending residual)
    latency_ms: float
    latency_by_kind_ms: dict[str, float]
    ops_exact: int
    ops_predicted: int
    scaled: bool
    board_sram_bytes: int
    board_flash_bytes: int
    predictor: str
    layers: tuple[LayerCost, ...] = field(default=())

    @property
    def fits_sram(self) -> bool:
        return self.peak_sram_bytes <= self.board_sram_bytes

    @property
    def fits_flash(self) -> bool:
        return self.flash_bytes <= self.board_flash_bytes

    @property
    def feasible(self) -> bool:
        return self.fits_sram and self.fits_flash

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fits_sram"], d["fits_flash"], d["feasible"] = self.fits_sram, self.fits_flash, self.feasible
        return d


def _latency_graph(spec: ModelSpec, lm: LatencyModel) -> Graph:
    runtime = MEASURED_LOWERING.get(lm.runtime)
    if runtime is None:
        raise ValueError(f"measurements of board {lm.board.measured_board} were taken with runtime "
                         f"{lm.runtime!r}, which has no lowering; known: {', '.join(MEASURED_LOWERING)}")
    return lower(spec, runtime)


def cost_model(spec: ModelSpec, board: Board | str, *, runtime: str | None = None, db: AtomDB | None = None,
               latency_model: LatencyModel | None = None) -> CostReport:
    """Cost of ``spec`` on ``board``: latency from AtomDB (exact, else predicted), SRAM and Flash of ``runtime``
    (default: the board's runtime)."""
    b = get_board(board) if isinstance(board, str) else board
    rt = runtime or b.runtime
    lm = latency_model or load_latency_model(b, db)
    g_lat = _latency_graph(spec, lm)
    lat, exact = lm.price_keys([layer.op.key for layer in g_lat.layers])
    g_mem = g_lat if g_lat.runtime == rt else lower(spec, rt)
    plan = get_planner(rt).plan(g_mem)
    flash = flash_breakdown(g_mem, rt)
    live: list[int | None] = [int(v) for v in plan.live_bytes] if g_mem is g_lat else [None] * len(g_lat.layers)
    by_kind: dict[str, float] = defaultdict(float)
    layers = []
    for i, layer in enumerate(g_lat.layers):
        op = layer.op
        by_kind[op.kind] += float(lat[i])
        layers.append(LayerCost(layer.name, op.kind, op.describe(), layer.stage, layer.block,
                                g_lat.tensors[layer.inputs[0]].shape, g_lat.tensors[layer.output].shape,
                                op.macs, op.weight_params, op.flash_bytes,
                                live[i], float(lat[i]), lm.label(bool(exact[i]))))
    return CostReport(
        model=spec.name, board=b.name, runtime=rt, latency_runtime=g_lat.runtime,
        macs=spec_macs(spec), params=spec_params(spec), weights_bytes=flash["weights"],
        flash_bytes=int(sum(flash.values())), flash_breakdown=flash,
        peak_sram_bytes=int(plan.peak_bytes) + RUNTIME_SRAM_OVERHEAD_BYTES.get(rt, 0),
        sram_breakdown={"activations": int(plan.arena_bytes), "scratch": int(plan.extra_bytes),
                        "runtime": RUNTIME_SRAM_OVERHEAD_BYTES.get(rt, 0)},
        act_bytes=act_bytes(spec),
        latency_ms=float(np.sum(lat)), latency_by_kind_ms=dict(by_kind),
        ops_exact=int(exact.sum()), ops_predicted=int((~exact).sum()), scaled=b.is_scaled,
        board_sram_bytes=b.sram_bytes, board_flash_bytes=b.flash_bytes, predictor=lm.predictor_origin,
        layers=tuple(layers))
