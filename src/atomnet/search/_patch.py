"""Search with patch-based execution (``atomnet search --patch auto``, MCUNetV2): architecture × plan.

A patch plan lowers a model's peak SRAM and raises its latency; it leaves its Flash and its own MACs (the
search objective) as they are. So the table search drops its SRAM bound (keeping latency, Flash and MACs,
whose layer-based figures are lower bounds of the patched ones), and the candidates are confirmed best first:
the layer-based cost meets every limit → plan ``layer-based``; else the patch plan (square grid 2…8 over the
first N blocks) with the lowest latency among those whose patched peak SRAM and latency meet the limits;
else the next candidate. The first confirmed candidate is then the optimum of architecture × plan over the
candidates walked (at most ``max_confirm``: when that cap stops the walk, no optimum is claimed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from atomnet.boards import Board
from atomnet.cost import CostReport, LatencyModel, PatchCost, best_patch_plan, cost_model, patch_cost
from atomnet.errors import InputError
from atomnet.runtimes import get_runtime
from atomnet.search._combine import Limits
from atomnet.search._records import Candidate
from atomnet.search._space import Space, StageConfig
from atomnet.spec import ModelSpec, from_stage_config, lower

PATCH_OPTIONS = ("auto",)
LAYER_BASED = "layer-based"
MAX_GRID = 8  # as best_patch_plan


@dataclass(frozen=True)
class PatchConfirmation:
    """The first candidate that meets every limit layer-based or under a patch plan (``spec`` None when none
    of the ``checked`` did); ``plan`` is ``layer-based`` or ``PxP@N``; ``capped`` when ``max_confirm``
    stopped the walk before the candidates ran out."""

    spec: ModelSpec | None
    stage_config: StageConfig | None
    cost: CostReport | None
    checked: int
    plan: str | None = None
    patch: PatchCost | None = None
    capped: bool = False


def check_patch_option(patch: str | None) -> None:
    if patch is not None and patch not in PATCH_OPTIONS:
        raise InputError(f"--patch: expected {' or '.join(PATCH_OPTIONS)} for a search, got {patch!r}")


def _blocks(spec: ModelSpec, runtime: str) -> int:
    """Number of blocks of the lowered graph a plan can cover (the head excluded), as the patch planner counts."""
    g = lower(spec, get_runtime(runtime).lowering)
    seen: list[tuple[int, int]] = []
    for ly in g.layers:
        if ly.name.startswith("head."):
            break
        if not seen or seen[-1] != (ly.stage, ly.block):
            seen.append((ly.stage, ly.block))
    return len(seen)


def fitting_plan(spec: ModelSpec, board: Board, runtime: str, lm: LatencyModel, limits: Limits) -> PatchCost | None:
    """The plan of ``spec`` with the lowest patched latency (ties: lower peak, smaller grid, fewer blocks)
    among those whose patched peak SRAM (input streamed) and latency meet ``limits``; None when none does."""
    low = best_patch_plan(spec, runtime, max_grid=MAX_GRID)  # the lowest peak of all plans: a cheap exact gate
    _, pc = patch_cost(spec, board, (low.grid, low.blocks), runtime=runtime, latency_model=lm)
    if pc.peak_sram_patch_bytes > limits.peak_sram_bytes:
        return None
    best: PatchCost | None = None
    for blocks in range(1, _blocks(spec, runtime) + 1):
        for grid in range(2, MAX_GRID + 1):
            try:
                _, c = patch_cost(spec, board, (grid, blocks), runtime=runtime, latency_model=lm)
            except InputError:  # a stage that cannot run per patch
                continue
            if c.peak_sram_patch_bytes > limits.peak_sram_bytes or c.latency_ms_patch > limits.latency_ms + 1e-9:
                continue
            key = (c.latency_ms_patch, c.peak_sram_patch_bytes, grid, blocks)
            if best is None or key < (best.latency_ms_patch, best.peak_sram_patch_bytes, best.grid, best.blocks):
                best = c
    return best


def confirm_patch(space: Space, candidates: Sequence[Candidate], board: Board, runtime: str, lm: LatencyModel,
                  limits: Limits, max_confirm: int) -> PatchConfirmation:
    """First candidate (best first, at most ``max_confirm``) that meets every limit layer-based or patched."""
    n = 0
    for n, cand in enumerate(candidates[:max_confirm], start=1):
        cfg = space.stage_config(cand.resolution_index, cand.choices)
        spec = from_stage_config(cfg)
        rep = cost_model(spec, board, runtime=runtime, latency_model=lm)
        if not (rep.flash_bytes <= limits.flash_bytes and limits.min_macs <= rep.macs <= limits.max_macs
                and rep.latency_ms <= limits.latency_ms + 1e-9):
            continue
        if rep.peak_sram_bytes <= limits.peak_sram_bytes:
            return PatchConfirmation(spec, cfg, rep, n, LAYER_BASED)
        pc = fitting_plan(spec, board, runtime, lm, limits)
        if pc is not None:
            return PatchConfirmation(spec, cfg, rep, n, pc.plan, pc)
    return PatchConfirmation(None, None, None, n, capped=len(candidates) > max_confirm)
