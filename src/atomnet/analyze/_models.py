"""Bottleneck analysis of whole models (the paper's Figures 2 and 4: where SRAM and Flash go, stage by stage)
and the pattern comparison (the paper's Table 5, cost part): the best model of each single-pattern space vs the
hybrid space under the same constraints."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from atomnet.boards import Board
from atomnet.cost import CostReport, LatencyModel, PatchCost, PatchPlan, cost_model, patch_cost, plan_patches
from atomnet.errors import InputError
from atomnet.spec import ModelSpec

if TYPE_CHECKING:
    from atomnet.export import TFLiteCost, TFLiteModel

DEFAULT_SPACES = ("sep", "convnext", "mbconv", "hybrid")
CONSTRAINTS = ("sram", "flash", "latency")


@dataclass(frozen=True)
class StageShare:
    """One stage of a model (``S1``… in spec order; ``head`` for the pool and classifier)."""

    label: str
    layers: int
    out_shape: tuple[int, int, int]
    macs: int
    flash_bytes: int
    flash_share: float  # of the model's weights + bias
    peak_live_sram_bytes: int | None  # largest live activation SRAM at any layer of the stage
    sram_share: float | None  # of the model's peak
    latency_ms: float
    latency_share: float


@dataclass(frozen=True)
class ModelAnalysis:
    """``cost`` is a spec's :class:`~atomnet.cost.CostReport` or a file's :class:`~atomnet.export.TFLiteCost`;
    ``latency_is_lower_bound``: some operators of a file are not priced (their latency counts as 0 here);
    ``patch``/``patch_plan``: ``cost --patch auto``'s figures and plan (input streamed) when patch-based
    inference (MCUNetV2) lowers the model's peak SRAM on its runtime (a spec on tinyengine or xcube-ai), else None."""

    name: str
    cost: CostReport | TFLiteCost
    stages: tuple[StageShare, ...]
    binding: dict[str, str]  # constraint → stage label that binds it
    latency_share_by_kind: dict[str, float]
    top_layers: dict[str, tuple[tuple[str, str, float], ...]]  # constraint → (layer, op, share)
    latency_is_lower_bound: bool = False
    patch: PatchCost | None = None
    patch_plan: PatchPlan | None = None


@dataclass(frozen=True)
class _Row:
    """What the bottleneck analysis reads of one layer (a spec layer or an operator of a file)."""

    stage: int
    name: str
    op: str
    out_shape: tuple[int, int, int]  # (c, h, w)
    macs: int
    flash_bytes: int
    live_sram_bytes: int | None
    latency_ms: float


def analyze_model(spec: ModelSpec, board: Board, lm: LatencyModel, runtime: str | None = None, *,
                  patch: bool = True) -> ModelAnalysis:
    """Per-stage and per-layer SRAM, Flash and latency shares of ``spec`` and the stage binding each; with
    ``patch``, the best patch plan when it lowers the peak SRAM (:attr:`ModelAnalysis.patch`)."""
    rep = cost_model(spec, board, runtime=runtime, latency_model=lm)
    rows = [_Row(ly.stage, ly.name, ly.op, ly.out_shape, ly.macs, ly.flash_bytes, ly.live_sram_bytes, ly.latency_ms)
            for ly in rep.layers]
    m = _analyze(spec.name, rep, rows, len(spec.stages), rep.latency_by_kind_ms)
    if not patch:
        return m
    try:  # issue 14: the MCUNetV2 comparison, kept only where patches help (auto: well under a second)
        _, pc = patch_cost(spec, board, "auto", runtime=rep.runtime, latency_model=lm)
    except InputError:  # the runtime has no patch planner, or no block can run per patch
        return m
    if pc.peak_sram_patch_bytes >= rep.peak_sram_bytes:
        return m
    return dataclasses.replace(m, patch=pc, patch_plan=plan_patches(spec, rep.runtime, pc.grid, pc.blocks))


def analyze_file(model: TFLiteModel | str | Path, board: Board, lm: LatencyModel,
                 runtime: str | None = None) -> ModelAnalysis:
    """The same analysis for a ``.tflite`` file (:func:`atomnet.export.cost_tflite`, default runtime ``tflm``):
    its operators grouped into stages by output resolution (the last group, pooled to 1×1, is the head), the
    live SRAM of the runtime, latency of the priced operators (unpriced ones count as 0: a lower bound)."""
    from atomnet.export import cost_tflite

    rep = cost_tflite(model, board, runtime=runtime, latency_model=lm)
    rows = [_Row(ly.stage, ly.name, ly.atom_op or ly.op, _chw(ly.out_shape), ly.macs, ly.flash_bytes,
                 ly.live_sram_bytes, ly.latency_ms or 0.0) for ly in rep.layers]
    last = rows[-1].stage if rows else 0
    head = last > 0 and rows[-1].out_shape[1:] == (1, 1)
    return dataclasses.replace(_analyze(Path(rep.model).name, rep, rows, last if head else last + 1,
                                        rep.latency_by_kind_ms), latency_is_lower_bound=rep.latency_is_lower_bound)


def _chw(nhwc: tuple[int, ...]) -> tuple[int, int, int]:
    if len(nhwc) == 4:
        return nhwc[3], nhwc[1], nhwc[2]
    n = 1
    for d in nhwc:
        n *= d
    return n, 1, 1


def _analyze(name: str, rep: CostReport | TFLiteCost, layers: list[_Row], nst: int,
             latency_by_kind_ms: dict[str, float]) -> ModelAnalysis:
    """Stage shares, bindings and top layers of priced rows; stages ``>= nst`` are labelled ``head``."""
    flash_total = sum(ly.flash_bytes for ly in layers) or 1
    peak_live = max((ly.live_sram_bytes or 0 for ly in layers), default=0) or None
    lat_total = rep.latency_ms or 1.0
    stages = []
    for s in sorted({ly.stage for ly in layers}):
        ls = [ly for ly in layers if ly.stage == s]
        live = [ly.live_sram_bytes for ly in ls if ly.live_sram_bytes is not None]
        pk = max(live) if live else None
        fl = sum(ly.flash_bytes for ly in ls)
        lat = sum(ly.latency_ms for ly in ls)
        stages.append(StageShare(f"S{s + 1}" if s < nst else "head", len(ls), ls[-1].out_shape,
                                 sum(ly.macs for ly in ls), fl, fl / flash_total, pk,
                                 (pk / peak_live) if pk is not None and peak_live else None, lat, lat / lat_total))
    binding = {"flash": max(stages, key=lambda st: st.flash_bytes).label,
               "latency": max(stages, key=lambda st: st.latency_ms).label}
    if peak_live:
        binding["sram"] = max(stages, key=lambda st: st.peak_live_sram_bytes or 0).label
    top: dict[str, tuple[tuple[str, str, float], ...]] = {}
    for key, val, tot in (("flash", lambda ly: ly.flash_bytes, flash_total),
                          ("sram", lambda ly: ly.live_sram_bytes or 0, peak_live or 0),
                          ("latency", lambda ly: ly.latency_ms, lat_total)):
        if not tot:
            continue
        best = sorted(layers, key=lambda ly: -val(ly))[:3]
        top[key] = tuple((ly.name, ly.op, val(ly) / tot) for ly in best)
    by_kind = {k: v / lat_total for k, v in sorted(latency_by_kind_ms.items(), key=lambda kv: -kv[1])}
    return ModelAnalysis(name, rep, tuple(stages), binding, by_kind, top)


@dataclass(frozen=True)
class PatternRow:
    space: str
    found: bool
    macs: int
    peak_sram_bytes: int
    flash_bytes: int
    latency_ms: float
    resolution: int
    blocks: str  # one line: block(+SE) and width per stage
    evaluated: int
    seconds: float


@dataclass(frozen=True)
class PatternComparison:
    sram_bytes: float
    flash_bytes: float
    latency_ms: float
    resolutions: tuple[int, ...] | None  # None: every resolution of each space
    rows: tuple[PatternRow, ...]

    def row(self, space: str) -> PatternRow | None:
        return next((r for r in self.rows if r.space == space), None)


def compare_patterns(board: Board, lm: LatencyModel, *, sram_bytes: float, flash_bytes: float, latency_ms: float,
                     spaces: Sequence[str] = DEFAULT_SPACES, resolutions: Sequence[int] | None = None,
                     runtime: str | None = None) -> PatternComparison:
    """Exhaustive zero-cost search (most MACs meeting every limit) in each space; ``resolutions`` restricts
    the input resolutions searched (faster; the comparison then covers only those)."""
    from atomnet.search import Limits, get_space, run_search

    lim = Limits(latency_ms=latency_ms, flash_bytes=flash_bytes, peak_sram_bytes=sram_bytes)
    rows = []
    for name in spaces:
        space = get_space(name)
        if resolutions is not None:
            keep = tuple(r for r in space.resolutions if r in set(resolutions))
            if not keep:
                raise InputError(f"--resolutions {','.join(map(str, resolutions))}: none is a resolution of space "
                                 f"{name} ({', '.join(map(str, space.resolutions))})")
            space = dataclasses.replace(space, resolutions=keep)
        t0 = time.perf_counter()
        out = run_search(space, board, lm, lim, runtime=runtime)
        sec = time.perf_counter() - t0
        if out.cost is None or out.stage_config is None:
            rows.append(PatternRow(name, False, 0, 0, 0, 0.0, 0, "", out.evaluated, sec))
            continue
        cfg = out.stage_config
        desc = " · ".join(f"{s['block']}{'+SE' if s['se'] else ''} {s['out_channels']}x{s['depth']}"
                          for s in cfg["stages"])
        c = out.cost
        rows.append(PatternRow(name, True, c.macs, c.peak_sram_bytes, c.flash_bytes, c.latency_ms,
                               int(cfg["input_resolution"]), desc, out.evaluated, sec))
    return PatternComparison(sram_bytes, flash_bytes, latency_ms, tuple(resolutions) if resolutions else None,
                             tuple(rows))
