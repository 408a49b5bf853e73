"""The MCUNetV2 figure (arXiv:2110.15352, Fig. 2/3 style): per-layer live SRAM of a model run layer by layer
and patch by patch (:mod:`atomnet.cost` patch plans, issue 14), both input-image policies, the board's SRAM
line and the split point marked.

:func:`patch_sram_series` gathers the numbers (the runtime's planner over the whole graph, over the largest
patch's graph and over the layers after the split); :func:`plot_patch_sram` only draws them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from atomnet.cost import PatchPlan, get_planner, get_runtime, patch_graph, rest_graph, without_arena
from atomnet.report._plots import _fmt_kb, _plt, _save, _stage_ticks


@dataclass(frozen=True)
class PatchSramSeries:
    """Per-layer live SRAM (bytes, arena + the layer's own extra buffers, runtime RAM overhead excluded) of one
    graph, layer-based and under a patch plan, over the same layers (the memory lowering's).

    Patch stage (layers ``0 … split_index``): the largest patch's planner live bytes + the assembly buffer
    (+ the whole input image in ``patch_whole_bytes``); after the split: the rest's planner live bytes. The
    ``peak_*`` fields are the planners' peaks + the runtime's RAM overhead (what ``cost --patch`` reports)."""

    model: str
    runtime: str
    plan: str
    layer_names: tuple[str, ...]
    stages: tuple[int, ...]
    split_index: int
    layer_bytes: tuple[int, ...]
    patch_streamed_bytes: tuple[int, ...]
    patch_whole_bytes: tuple[int, ...]
    overhead_bytes: int
    peak_layer_bytes: int
    peak_streamed_bytes: int
    peak_whole_bytes: int

    @property
    def split_layer(self) -> str:
        return self.layer_names[self.split_index]


def patch_sram_series(plan: PatchPlan, runtime: str) -> PatchSramSeries:
    """The per-layer figures of ``plan`` (its graph lowered for ``runtime``) by ``runtime``'s planner.

    >>> from atomnet.cost import plan_patches
    >>> from atomnet.zoo import get_zoo
    >>> s = patch_sram_series(plan_patches(get_zoo("mcunet-in0"), "tinyengine", 4, 5), "tinyengine")
    >>> s.split_layer, s.peak_layer_bytes, s.peak_streamed_bytes, s.peak_whole_bytes
    ('s2.b2.add', 50064, 27602, 34514)
    """
    rt = get_runtime(runtime)
    planner = get_planner(rt.planner)
    g = plan.graph
    whole = planner.plan(g)
    pg = patch_graph(plan, plan.largest_patch())
    zero = {pg.output}  # written straight into the assembly buffer
    streamed = planner.plan(without_arena(pg, zero))
    held = planner.plan(without_arena(pg, zero | {pg.input}))  # the patch reads its region of the whole image in place
    rest = planner.plan(rest_graph(plan))
    asm = plan.assembly_bytes
    image = g.tensors[g.input].nbytes
    n = plan.split_layer + 1
    rest_live = [int(v) for v in rest.live_bytes]
    over = rt.ram_overhead_bytes
    rest_peak = int(rest.peak_bytes)
    return PatchSramSeries(
        model=g.name, runtime=rt.name, plan=plan.label, layer_names=tuple(ly.name for ly in g.layers),
        stages=tuple(ly.stage for ly in g.layers), split_index=plan.split_layer,
        layer_bytes=tuple(int(v) for v in whole.live_bytes),
        patch_streamed_bytes=tuple([int(v) + asm for v in streamed.live_bytes[:n]] + rest_live),
        patch_whole_bytes=tuple([int(v) + asm + image for v in held.live_bytes[:n]] + rest_live),
        overhead_bytes=over, peak_layer_bytes=int(whole.peak_bytes) + over,
        peak_streamed_bytes=max(int(streamed.peak_bytes) + asm, rest_peak) + over,
        peak_whole_bytes=max(int(held.peak_bytes) + asm + image, rest_peak) + over)


def plot_patch_sram(series: PatchSramSeries, path: str | Path, *, board: str | None = None,
                    board_sram_bytes: int | None = None, title: str | None = None) -> Path:
    """Per-layer live SRAM, layer-based (grey bars) vs patch-based (input streamed: blue; input image held whole
    in SRAM: orange), the patch stage shaded with the split point marked, each policy's peak (runtime RAM
    included) and the board's SRAM as a line when given."""
    plt = _plt()
    kb = 1024.0
    x = list(range(len(series.layer_names)))
    fig, ax = plt.subplots(figsize=(13, 5.2))
    ax.bar(x, [v / kb for v in series.layer_bytes], color="#c8c8c8", width=0.85, label="layer-based")
    ax.step(x, [v / kb for v in series.patch_whole_bytes], where="mid", color="#dd8452", lw=1.4,
            label="patch-based, input image whole in SRAM")
    ax.step(x, [v / kb for v in series.patch_streamed_bytes], where="mid", color="#4c72b0", lw=1.6,
            label="patch-based, input streamed")
    s = series.split_index
    ax.axvspan(-0.5, s + 0.5, color="#4c72b0", alpha=0.07, lw=0)
    ax.axvline(s + 0.5, color="#4c72b0", ls="-", lw=1)
    peaks = [(series.peak_layer_bytes, "#707070", "layer-based peak"),
             (series.peak_streamed_bytes, "#4c72b0", "patch peak (streamed)"),
             (series.peak_whole_bytes, "#dd8452", "patch peak (whole)")]
    for v, c, name in peaks:
        ax.axhline(v / kb, color=c, ls=":", lw=1, label=f"{name} {v / kb:.1f} KB")
    tops = [v for v, _, _ in peaks] + list(series.layer_bytes) + list(series.patch_whole_bytes)
    if board_sram_bytes is not None:
        name = f"{board or 'board'} SRAM {_fmt_kb(board_sram_bytes)}"
        if board_sram_bytes <= 2 * max(tops):
            ax.axhline(board_sram_bytes / kb, color="red", ls="--", lw=1, label=name)
            tops.append(board_sram_bytes)
        else:  # far above the model's figures: named in the legend, the scale kept for the model
            ax.plot([], [], color="red", ls="--", lw=1, label=f"{name} (above the scale)")
    top = max(tops) / kb
    ax.set_ylim(0, top * 1.45)  # head-room for the legend: nothing is drawn above `top`
    ax.text(s + 0.5, top * 1.02, f" split after {series.split_layer} ({series.plan})", fontsize=8,
            color="#4c72b0", ha="left", va="bottom")
    ax.set_xlim(-0.5, len(x) - 0.5)
    _stage_ticks(ax, [_Stage(st) for st in series.stages])
    ax.set_ylabel("live SRAM at layer (KB)")
    handles, labels = ax.get_legend_handles_labels()
    first = labels.index("layer-based")  # the bars first, then the lines in drawing order
    order = [first] + [i for i in range(len(labels)) if i != first]
    ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper right", ncol=2, fontsize=8,
              frameon=False)
    over = (f" (bars and lines without the runtime RAM {series.overhead_bytes / kb:.1f} KB; the peaks with it)"
            if series.overhead_bytes else "")
    ax.set_title(title or f"{series.model} ({series.runtime} planner): per-layer live SRAM, layer-based vs "
                 f"patch-based{over}", fontsize=9)
    return _save(plt, fig, path)


def patch_plot_path(path: str | Path) -> Path:
    """Where ``cost --patch … --plot F.png`` writes this figure, next to the cost figure: ``F_patch.png``."""
    p = Path(path)
    return p.with_name(f"{p.stem}_patch{p.suffix or '.png'}")


@dataclass(frozen=True)
class _Stage:
    stage: int
