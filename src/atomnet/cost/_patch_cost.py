"""Cost of a model under a patch plan (:mod:`atomnet.cost._patch`), beside its layer-based cost.

- MACs: the patch stage's MACs with recomputation (regions clipped to the tensors, what a patch executor
  computes; :attr:`PatchCost.stage_macs_uniform` also gives MCUNetV2's Table 1 rule, every patch at the
  largest patch's size), plus the rest layer by layer.
- Latency: every patch's operators priced at their patch sizes through the same :class:`Pricer` (AtomDB exact
  or predicted like any operator), plus the rest's layers as in the layer-based cost.
- Peak SRAM by the runtime's planner: ``max(patch stage, rest)`` + the runtime's RAM overhead, where the patch
  stage is the planner's peak over the largest patch's graph (its split output written straight into the
  assembly buffer) + the assembly buffer (the split tensor, whole) + the input image when it is held whole in
  SRAM (then the patch reads its region in place); the rest is the planner's peak over the layers after the split.
  Both input policies are computed; ``peak_sram_patch_bytes`` is the one asked for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from atomnet.boards import Board, get_board
from atomnet.cost._latency import LatencyModel, load_latency_model
from atomnet.cost._patch import PatchPlan, analytic_peak, patch_graph, patch_op, plan_graph, rest_graph
from atomnet.cost._price import Pricer
from atomnet.cost._report import CostReport, render_report
from atomnet.cost._sram import Planner
from atomnet.db import AtomDB
from atomnet.errors import InputError
from atomnet.jsontypes import JSONDict
from atomnet.runtimes import Runtime, get_runtime
from atomnet.spec import Graph, ModelSpec, Tensor, lower

#: runtimes whose planner can plan a patch stage (tflm's persistent tail is per model file: not yet)
PATCH_RUNTIMES = ("tinyengine", "xcube-ai")


@dataclass(frozen=True)
class PatchSram:
    """Peak SRAM of one plan by the runtime's planner (runtime overhead excluded)."""

    stage_bytes: int  # patch stage, input streamed (planner peak of one patch + assembly buffer)
    stage_whole_bytes: int  # patch stage, input image held whole in SRAM
    rest_bytes: int

    @property
    def streamed_bytes(self) -> int:
        return max(self.stage_bytes, self.rest_bytes)

    @property
    def whole_bytes(self) -> int:
        return max(self.stage_whole_bytes, self.rest_bytes)


@dataclass(frozen=True)
class PatchCost:
    """A model's layer-based and patch-based figures side by side. Units are in the names."""

    model: str
    board: str
    runtime: str
    plan: str  # PxP@N
    grid: int
    blocks: int
    split_layer: str
    input_patch_hw: tuple[int, int]
    assembly_bytes: int
    input_image_bytes: int
    input_in_sram: bool
    macs_layer: int
    macs_patch: int
    stage_macs: int
    stage_macs_patched: int
    stage_macs_uniform: int
    peak_sram_layer_bytes: int
    peak_sram_patch_bytes: int  # under input_in_sram
    peak_sram_patch_input_whole_bytes: int
    peak_sram_patch_input_streamed_bytes: int
    patch_stage_sram_bytes: int  # under input_in_sram, runtime overhead excluded
    rest_sram_bytes: int
    analytic_peak_layer_bytes: int  # MCUNetV2's rule (input+output, dw in place, no residual)
    analytic_peak_patch_bytes: int  # the same rule, input streamed, assembly buffer counted
    latency_ms_layer: float
    latency_ms_patch: float
    patch_layers: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...]  # largest patch: name, in hw, out hw

    @property
    def extra_macs(self) -> int:
        return self.macs_patch - self.macs_layer

    def to_dict(self) -> JSONDict:
        d = asdict(self)
        d["extra_macs"] = self.extra_macs
        d["patch_layers"] = [{"name": n, "in_hw": list(a), "out_hw": list(b)} for n, a, b in self.patch_layers]
        return d


def _hw(t: Tensor) -> tuple[int, int]:
    return t.shape[1], t.shape[2]


def _check_runtime(rt: Runtime) -> None:
    if rt.planner.partition("@")[0] not in PATCH_RUNTIMES:
        raise InputError(f"--patch: runtime {rt.name} is not supported for patch plans yet "
                         f"(supported: {', '.join(PATCH_RUNTIMES)})")


def without_arena(g: Graph, tensors: set[int]) -> Graph:
    """``g`` with the tensors ``tensors`` taking no arena (they live in a buffer outside the patch's graph)."""
    ts = tuple(Tensor(t.id, (0, *t.shape[1:])) if t.id in tensors else t for t in g.tensors)
    return replace(g, tensors=ts)


def plan_sram_patch(plan: PatchPlan, planner: Planner, rest_peak: int | None = None) -> PatchSram:
    """Planner peaks of ``plan`` (graph lowered for the planner's runtime) under both input policies."""
    pg = patch_graph(plan, plan.largest_patch())
    streamed = without_arena(pg, {pg.output})
    whole = without_arena(pg, {pg.output, pg.input})
    image = plan.graph.tensors[plan.graph.input].nbytes
    asm = plan.assembly_bytes
    rest = rest_peak if rest_peak is not None else int(planner.plan(rest_graph(plan)).peak_bytes)
    return PatchSram(int(planner.plan(streamed).peak_bytes) + asm, int(planner.plan(whole).peak_bytes) + asm + image,
                     rest)


def plan_patches(spec: ModelSpec, runtime: Runtime | str, grid: int, blocks: int) -> PatchPlan:
    """The plan of ``spec`` lowered for ``runtime``: its first ``blocks`` blocks on a ``grid × grid`` grid.

    >>> from atomnet.zoo import get_zoo
    >>> plan_patches(get_zoo("keras-mobilenet-v2-1.0-224-c1000"), "tinyengine", 4, 5).input_patch_hw
    (75, 75)
    """
    return plan_graph(lower(spec, get_runtime(runtime).lowering), grid, blocks)


def best_patch_plan(spec: ModelSpec, runtime: Runtime | str, *, input_in_sram: bool = False,
                    max_grid: int = 8) -> PatchPlan:
    """``auto``: the split and grid with the lowest planner peak under the input policy, ties broken by the
    fewest extra MACs (then the smaller grid). Splits whose stage cannot run per patch are skipped."""
    from atomnet.cost._patch import graph_blocks
    from atomnet.cost._sram import get_planner

    rt = get_runtime(runtime)
    _check_runtime(rt)
    g = lower(spec, rt.lowering)
    planner = get_planner(rt.planner)
    best: tuple[int, int, int] | None = None
    best_plan: PatchPlan | None = None
    for blocks in range(1, len(graph_blocks(g)) + 1):
        rest_peak: int | None = None
        for grid in range(2, max_grid + 1):
            try:
                plan = plan_graph(g, grid, blocks)
            except InputError:
                continue
            if rest_peak is None:
                rest_peak = int(planner.plan(rest_graph(plan)).peak_bytes)
            s = plan_sram_patch(plan, planner, rest_peak)
            key = (s.whole_bytes if input_in_sram else s.streamed_bytes, plan.extra_macs, grid)
            if best is None or key < best:
                best, best_plan = key, plan
    if best_plan is None:
        raise InputError(f"--patch auto: no block of {spec.name} can run per patch")
    return best_plan


def parse_patch(text: str) -> tuple[int, int] | None:
    """``"auto"`` → None; ``"PxP@N"`` → ``(P, N)`` (square grids only)."""
    if text == "auto":
        return None
    grid, at, blocks = text.partition("@")
    p, x, q = grid.lower().partition("x")
    if not (at and x and p.isdigit() and q.isdigit() and blocks.isdigit()) or p != q or int(p) < 1 or int(blocks) < 1:
        raise InputError(f"--patch: expected 'auto' or PxP@N (e.g. 4x4@5: a 4×4 grid over the first 5 blocks, "
                         f"the stem counted), got {text!r}")
    return int(p), int(blocks)


def patch_cost(spec: ModelSpec, board: Board | str, patch: str | tuple[int, int] | None = "auto", *,
               runtime: Runtime | str | None = None, input_in_sram: bool = False, db: AtomDB | None = None,
               latency_model: LatencyModel | None = None) -> tuple[CostReport, PatchCost]:
    """The layer-based :class:`CostReport` of ``spec`` and its :class:`PatchCost` under ``patch`` (``"auto"``,
    ``"PxP@N"``, or ``(P, N)``)."""
    b = get_board(board) if isinstance(board, str) else board
    rt = get_runtime(runtime or b.runtime)
    _check_runtime(rt)
    lm = latency_model or load_latency_model(b, db, for_runtime=rt.name)
    pricer = Pricer(rt, lm)
    g_lat, g_mem = pricer.lower(spec)
    arr = pricer.price(g_lat, g_mem)
    rep = render_report(spec, b, arr, lm.predictor_origin)
    pn = parse_patch(patch) if isinstance(patch, str) else patch
    plan = (best_patch_plan(spec, rt, input_in_sram=input_in_sram) if pn is None
            else plan_graph(g_mem, pn[0], pn[1]))
    sram = plan_sram_patch(plan, pricer.planner)
    # latency: the same split on the latency lowering, every patch's operators at its sizes
    lp = plan if g_lat is g_mem else plan_graph(g_lat, plan.grid, plan.blocks)
    keys = [patch_op(g_lat.layers[i], pl.in_regions[p], pl.out_regions[p]).key
            for i, pl in enumerate(lp.layers) for p in range(len(pl.out_regions))]
    keys += [ly.op.key for ly in g_lat.layers[lp.split_layer + 1:]]
    lat, _ = pricer.price_keys(keys)
    big = plan.largest_patch()
    image = plan.graph.tensors[plan.graph.input].nbytes
    over = rt.ram_overhead_bytes
    stage = sram.stage_whole_bytes if input_in_sram else sram.stage_bytes
    pg = patch_graph(plan, big)
    # MCUNetV2's analytic rule is runtime-free: on the lowering with pads fused and depthwise in place
    g_an = g_mem if g_mem.runtime == "tinyengine" else lower(spec, "tinyengine")
    ap = plan if g_an is g_mem else plan_graph(g_an, plan.grid, plan.blocks)
    ana_patch = max(analytic_peak(patch_graph(ap, ap.largest_patch()), residual=False) + ap.assembly_bytes,
                    analytic_peak(rest_graph(ap), residual=False))
    total = sum(ly.op.macs for ly in g_mem.layers)
    pc = PatchCost(
        model=spec.name, board=b.name, runtime=rt.name, plan=plan.label, grid=plan.grid, blocks=plan.blocks,
        split_layer=g_mem.layers[plan.split_layer].name, input_patch_hw=plan.input_patch_hw,
        assembly_bytes=plan.assembly_bytes, input_image_bytes=image, input_in_sram=input_in_sram,
        macs_layer=total, macs_patch=total + plan.extra_macs, stage_macs=plan.stage_macs,
        stage_macs_patched=plan.stage_macs_patched, stage_macs_uniform=plan.stage_macs_uniform,
        peak_sram_layer_bytes=rep.peak_sram_bytes,
        peak_sram_patch_bytes=(sram.whole_bytes if input_in_sram else sram.streamed_bytes) + over,
        peak_sram_patch_input_whole_bytes=sram.whole_bytes + over,
        peak_sram_patch_input_streamed_bytes=sram.streamed_bytes + over,
        patch_stage_sram_bytes=stage, rest_sram_bytes=sram.rest_bytes,
        analytic_peak_layer_bytes=analytic_peak(g_an, residual=False), analytic_peak_patch_bytes=ana_patch,
        latency_ms_layer=rep.latency_ms, latency_ms_patch=float(np.sum(lat)),
        patch_layers=tuple((ly.name, _hw(pg.tensors[ly.inputs[0]]), _hw(pg.tensors[ly.output])) for ly in pg.layers))
    return rep, pc
