"""Patch-based inference (MCUNetV2, arXiv:2110.15352 §3.1) as an execution plan of a lowered graph.

The first ``blocks`` blocks (in execution order, the stem counted: MCUNetV2's "n=5" for MobileNetV2 is the stem
and the next four blocks) run once per patch of a ``p×p`` grid over the split tensor (the output of the last of
those blocks); every patch recomputes the overlap (halo) its receptive field needs. Receptive fields propagate
backwards through every layer's kernel, stride and padding (:func:`plan_graph`); a tensor read by several
layers (a residual) needs the union of their regions. The split tensor is assembled whole in SRAM (the
assembly buffer), then the rest of the graph runs layer by layer.

Accounting is explicit: the input image is either held whole in SRAM for the patch stage
(``input_in_sram=True``, the whole-device figure) or streamed per patch from a camera/Flash buffer (only the
patch's input region is in SRAM, the figure MCUNetV2 publishes). Never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from atomnet.errors import InputError
from atomnet.ops import Op
from atomnet.spec import Graph, Layer, Tensor

#: (row0, row1, col0, col1), inclusive, in the coordinates of one tensor
Region = tuple[int, int, int, int]

#: kinds that read a spatial window of their input (kernel, stride, padding)
_WINDOW = ("conv", "depthwise")
#: kinds whose output pixel depends only on the same input pixel
_PIXEL = ("pointwise", "eltwise", "affine")


@dataclass(frozen=True)
class PatchLayer:
    """One layer of the patch stage: its input region (first input) and output region per patch, row-major
    over the grid, and its halo: how many input rows/cols the largest patch reads beyond its share."""

    name: str
    kind: str
    in_regions: tuple[Region, ...]
    out_regions: tuple[Region, ...]
    macs_per_pixel: int

    stride: int = 1

    @property
    def halo_hw(self) -> tuple[int, int]:
        """The most input rows / cols a patch reads beyond ``stride ×`` its output (``kernel − stride`` for an
        interior patch of a window op: what neighbouring patches recompute; 0 for pointwise layers)."""
        pairs = list(zip(self.in_regions, self.out_regions, strict=True))
        s = self.stride
        return (max(max((i[1] - i[0] + 1) - s * (o[1] - o[0] + 1), 0) for i, o in pairs),
                max(max((i[3] - i[2] + 1) - s * (o[3] - o[2] + 1), 0) for i, o in pairs))

    @property
    def macs(self) -> int:
        """MACs of all patches (recomputation included)."""
        return sum(self.macs_per_pixel * _area(r) for r in self.out_regions)


@dataclass(frozen=True)
class PatchPlan:
    """How the first ``blocks`` blocks of ``graph`` run patch by patch on a ``grid × grid`` grid.

    ``split_layer``: index of the last patch-stage layer; ``split_tensor``: its output (assembled whole);
    ``regions[t][p]``: the region of tensor ``t`` patch ``p`` computes (only patch-stage tensors and the input)."""

    graph: Graph
    grid: int
    blocks: int
    split_layer: int
    split_tensor: int
    layers: tuple[PatchLayer, ...]
    regions: dict[int, tuple[Region, ...]]

    @property
    def label(self) -> str:
        return f"{self.grid}x{self.grid}@{self.blocks}"

    @property
    def input_patch_hw(self) -> tuple[int, int]:
        """The largest input-image region one patch reads (rows, cols)."""
        rs = self.regions[self.graph.input]
        return max(r[1] - r[0] + 1 for r in rs), max(r[3] - r[2] + 1 for r in rs)

    @property
    def assembly_bytes(self) -> int:
        return self.graph.tensors[self.split_tensor].nbytes

    @property
    def stage_macs(self) -> int:
        """MACs of the patch stage run layer by layer (no recomputation)."""
        return sum(ly.op.macs for ly in self.graph.layers[: self.split_layer + 1])

    @property
    def stage_macs_patched(self) -> int:
        return sum(pl.macs for pl in self.layers)

    @property
    def stage_macs_uniform(self) -> int:
        """MACs of the patch stage when every patch computes the largest patch's regions (the border padding
        computed like data: MCUNetV2's Table 1 rule for the patch-stage overhead, +42 % for MobileNetV2)."""
        n = self.grid * self.grid
        return sum(n * pl.macs_per_pixel * max(map(_area, pl.out_regions)) for pl in self.layers)

    @property
    def extra_macs(self) -> int:
        """MACs the patches recompute (regions clipped to the tensors: what a patch executor computes)."""
        return self.stage_macs_patched - self.stage_macs

    def tensor_bytes(self, t: int, p: int) -> int:
        """Bytes of tensor ``t``'s region in patch ``p``."""
        return self.graph.tensors[t].shape[0] * _area(self.regions[t][p])

    def largest_patch(self) -> int:
        """The patch whose regions are largest in sum (an interior patch on a border-clipped grid)."""
        n = self.grid * self.grid
        return max(range(n), key=lambda p: sum(self.tensor_bytes(t, p) for t in self.regions))


def _area(r: Region) -> int:
    return max(r[1] - r[0] + 1, 0) * max(r[3] - r[2] + 1, 0)


def _union(a: Region | None, b: Region) -> Region:
    return b if a is None else (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def _pad_before(op: Op) -> tuple[int, int]:
    """Top/left padding of a windowed op: 0 for a valid conv (explicit pads before it), else SAME's ``k//2``
    as the lowerings pad (symmetric, :mod:`atomnet.spec._lower`)."""
    ph = 0 if (op.h_out - 1) * op.stride + op.kernel <= op.h_in else op.kernel // 2
    pw = 0 if (op.w_out - 1) * op.stride + op.kernel <= op.w_in else op.kernel // 2
    return ph, pw


def input_region(layer: Layer, in_t: Tensor, out: Region) -> Region:
    """The region of ``layer``'s input ``in_t`` the output region ``out`` reads (clipped to the tensor)."""
    op = layer.op
    _, h, w = in_t.shape
    r0, r1, c0, c1 = out
    if op.kind in _WINDOW:
        ph, pw = _pad_before(op)
        s, k = op.stride, op.kernel
        r0, r1, c0, c1 = r0 * s - ph, r1 * s - ph + k - 1, c0 * s - pw, c1 * s - pw + k - 1
    elif op.kind == "pad":
        ph, pw = (op.h_out - op.h_in) // 2, (op.w_out - op.w_in) // 2
        r0, r1, c0, c1 = r0 - ph, r1 - ph, c0 - pw, c1 - pw
    elif op.kind == "pool" and (op.h_out, op.w_out) == (h, w):
        pass
    elif op.kind not in _PIXEL:
        raise InputError(f"patch plan: layer {layer.name} ({op.kind}) needs its whole input and cannot run per "
                         f"patch; split before it (fewer blocks)")
    return max(r0, 0), min(r1, h - 1), max(c0, 0), min(c1, w - 1)


def graph_blocks(graph: Graph) -> list[tuple[int, int]]:
    """``(stage, block)`` of the graph's blocks in execution order (the head excluded)."""
    out: list[tuple[int, int]] = []
    for ly in graph.layers:
        if ly.name.startswith("head."):
            break
        sb = (ly.stage, ly.block)
        if not out or out[-1] != sb:
            out.append(sb)
    return out


def plan_graph(graph: Graph, grid: int, blocks: int) -> PatchPlan:
    """The patch plan of ``graph``: the first ``blocks`` blocks on a ``grid × grid`` grid of the split tensor.

    >>> from atomnet.spec import lower
    >>> from atomnet.zoo import get_zoo
    >>> plan = plan_graph(lower(get_zoo("keras-mobilenet-v2-1.0-224-c1000"), "tinyengine"), 4, 5)
    >>> plan.input_patch_hw, plan.assembly_bytes
    ((75, 75), 25088)
    """
    bl = graph_blocks(graph)
    if not 1 <= blocks <= len(bl):
        raise InputError(f"patch plan: blocks must be 1 … {len(bl)} for {graph.name}, got {blocks}")
    if grid < 1:
        raise InputError(f"patch plan: the grid must be at least 1×1, got {grid}")
    last = bl[blocks - 1]
    split = max(i for i, ly in enumerate(graph.layers) if (ly.stage, ly.block) == last)
    stage = graph.layers[: split + 1]
    split_t = stage[-1].output
    produced = {ly.output for ly in stage}
    for ly in graph.layers[split + 1:]:
        leak = [t for t in ly.inputs if t in produced and t != split_t]
        if leak:
            raise InputError(f"patch plan: layer {ly.name} reads tensor {leak[0]} of the patch stage besides the "
                             f"split output; choose another split")
    _, h, w = graph.tensors[split_t].shape
    if grid > min(h, w):
        raise InputError(f"patch plan: a {grid}×{grid} grid is finer than the split tensor ({h}×{w})")
    rows = [(i * h // grid, (i + 1) * h // grid - 1) for i in range(grid)]
    cols = [(j * w // grid, (j + 1) * w // grid - 1) for j in range(grid)]
    tiles = [(r[0], r[1], c[0], c[1]) for r in rows for c in cols]
    regions: dict[int, list[Region | None]] = {split_t: list(tiles)}
    out_of: dict[int, tuple[Region, ...]] = {}
    for i in range(split, -1, -1):
        ly = graph.layers[i]
        outs = regions.get(ly.output)
        if outs is None:
            raise InputError(f"patch plan: layer {ly.name}'s output is not used by the patch stage")
        done = tuple(r for r in outs if r is not None)
        out_of[i] = done
        for t in ly.inputs:
            cur = regions.setdefault(t, [None] * len(tiles))
            for p, r in enumerate(done):
                cur[p] = _union(cur[p], input_region(ly, graph.tensors[t], r))
    final = {t: tuple(r for r in rs if r is not None) for t, rs in regions.items()}
    players = []
    for i, ly in enumerate(stage):
        op = ly.op
        players.append(PatchLayer(ly.name, op.kind, final[ly.inputs[0]], out_of[i],
                                  op.macs // max(op.h_out * op.w_out, 1), op.stride))
    return PatchPlan(graph, grid, blocks, split, split_t, tuple(players), final)


def patch_op(layer: Layer, in_r: Region, out_r: Region) -> Op:
    """``layer``'s operator at one patch's sizes (a valid window op: the halo replaces the padding)."""
    op = layer.op
    hi, wi = in_r[1] - in_r[0] + 1, in_r[3] - in_r[2] + 1
    ho, wo = out_r[1] - out_r[0] + 1, out_r[3] - out_r[2] + 1
    return Op(op.kind, op.c_in, hi, wi, op.c_out, ho, wo, op.kernel, op.stride, op.groups)


def patch_graph(plan: PatchPlan, p: int) -> Graph:
    """The patch stage of ``plan`` for patch ``p`` as a graph of its own (tensors at the patch's sizes), which
    a runtime's SRAM planner plans like any graph."""
    g = plan.graph
    tensors: list[Tensor] = []
    ids: dict[int, int] = {}
    for t in sorted(plan.regions):
        ids[t] = len(tensors)
        tensors.append(Tensor(len(tensors), (g.tensors[t].shape[0], *_hw(plan.regions[t][p]))))
    layers = []
    for i, ly in enumerate(g.layers[: plan.split_layer + 1]):
        pl = plan.layers[i]
        layers.append(Layer(ly.name, patch_op(ly, pl.in_regions[p], pl.out_regions[p]),
                            tuple(ids[t] for t in ly.inputs), ids[ly.output], ly.stage, ly.block, ly.act,
                            ly.inplace, ly.tflite_op))
    return Graph(f"{g.name}.patch{p}", g.runtime, tuple(tensors), tuple(layers), ids[g.input],
                 ids[plan.split_tensor])


def rest_graph(plan: PatchPlan) -> Graph:
    """The layers after the split, reading the assembled split tensor (the tensor ids renumbered)."""
    g = plan.graph
    rest = g.layers[plan.split_layer + 1:]
    used = sorted({plan.split_tensor} | {t for ly in rest for t in (*ly.inputs, ly.output)})
    ids = {t: k for k, t in enumerate(used)}
    tensors = tuple(Tensor(ids[t], g.tensors[t].shape) for t in used)
    layers = tuple(Layer(ly.name, ly.op, tuple(ids[t] for t in ly.inputs), ids[ly.output], ly.stage, ly.block,
                         ly.act, ly.inplace, ly.tflite_op) for ly in rest)
    return Graph(f"{g.name}.rest", g.runtime, tensors, layers, ids[plan.split_tensor], ids[g.output])


def _hw(r: Region) -> tuple[int, int]:
    return r[1] - r[0] + 1, r[3] - r[2] + 1


def analytic_peak(graph: Graph, first: int = 0, last: int | None = None, *, residual: bool = True) -> int:
    """MCUNetV2's analytic int8 peak (Table 1: "sum of input+output activation per layer"): per layer, its
    inputs plus its output (an in-place layer's output shares its input's buffer) plus the tensors kept alive
    across it for a later layer (a residual; ``residual=False`` leaves them out, as MCUNetV2's Table 1 does:
    172 kB for MobileNetV2's per-patch peak holds only without them); the max over layers ``first … last``."""
    nb = {t.id: t.nbytes for t in graph.tensors}
    cons = graph.consumers()
    prod = graph.producers()
    n = len(graph.layers) if last is None else last + 1
    best = 0
    for i in range(first, n):
        ly = graph.layers[i]
        own = set(ly.inputs) | {ly.output}
        b = sum(nb.get(t, 0) for t in set(ly.inputs)) + (0 if ly.inplace else nb.get(ly.output, 0))
        if ly.inplace:
            b = max(b, nb.get(ly.output, 0))
        if residual:
            b += sum(nb[t] for t in nb if t not in own and prod.get(t, -1) < i
                     and any(c > i for c in cons.get(t, [])))
        best = max(best, b)
    return best
