"""Block analysis: SEP, MBConv and ConvNext blocks, with and without SE, at matched input/output shapes
(c_in = c_out = width, stride 1, the same input resolution) over a grid of widths and resolutions, each
costed by the cost model (:func:`atomnet.cost.cost_model`), and the paper's block rankings checked at every
grid point.

"Better" is lower cost. Two views are counted: the *raw* cost of one block at the matched shape, and the
cost *per MAC* (Flash bytes per MAC, SRAM bytes per MAC, ms per MAC = 1 / computation efficiency), since the
blocks do very different amounts of work at the same shape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from atomnet.boards import Board
from atomnet.cost import LatencyModel, cost_model
from atomnet.spec import BlockSpec, ModelSpec, StageSpec

BLOCKS = ("sep", "mbconv", "convnext")
#: the paper's rankings, best first (AtomNet §3; FACTS §1)
PAPER_RANKINGS: dict[str, tuple[str, ...]] = {
    "flash": ("convnext", "mbconv", "sep"),
    "sram": ("sep", "convnext", "mbconv"),
    "latency": ("convnext", "mbconv", "sep"),
}
METRICS = ("flash", "sram", "latency")
NORMALIZATIONS = ("raw", "per_mac")
DEFAULT_WIDTHS = (16, 32, 48, 64, 96, 128, 160)
DEFAULT_RESOLUTIONS = (7, 14, 28, 56)
#: expansion of MBConv and ConvNext (the late stages of the paper's space use 6); SEP uses 1
DEFAULT_EXPAND = 6


@dataclass(frozen=True)
class BlockPoint:
    """One block at one grid point: its own layers' MACs, Flash (weights + bias), latency, and the peak SRAM
    of the one-block model (the block dominates it)."""

    block: str
    se: bool
    width: int
    resolution: int
    macs: int
    flash_bytes: int
    peak_sram_bytes: int
    latency_ms: float
    ops_exact: int
    ops: int

    def metric(self, metric: str, normalization: str = "raw") -> float:
        v = {"flash": float(self.flash_bytes), "sram": float(self.peak_sram_bytes), "latency": self.latency_ms}[metric]
        return v / self.macs if normalization == "per_mac" else v


@dataclass(frozen=True)
class RankingCheck:
    """How often the observed order of the three blocks (best first) equals the paper's, per metric, view and
    SE setting. ``pairs_agree``: agreeing pairwise comparisons out of ``3 * total``."""

    metric: str
    normalization: str
    se: bool
    paper: tuple[str, ...]
    agree: int
    total: int
    pairs_agree: int
    orders: dict[str, int]  # observed order "a > b > c" → grid points

    @property
    def most_common(self) -> str:
        return max(self.orders, key=lambda k: self.orders[k]) if self.orders else ""


@dataclass(frozen=True)
class BlockAnalysis:
    widths: tuple[int, ...]
    resolutions: tuple[int, ...]
    expand: float
    points: tuple[BlockPoint, ...]
    rankings: tuple[RankingCheck, ...]

    def se_effect(self, block: str) -> tuple[int, int, float, float, float]:
        """What adding SE does to ``block`` over the grid: (points where the peak SRAM rises, points, median
        SRAM ratio, median Flash ratio, median latency ratio) of with-SE over without-SE."""
        import statistics

        pairs = [(self.point(block, True, w, r), self.point(block, False, w, r))
                 for w in self.widths for r in self.resolutions]
        up = sum(a.peak_sram_bytes > b.peak_sram_bytes for a, b in pairs)
        return (up, len(pairs), statistics.median(a.peak_sram_bytes / b.peak_sram_bytes for a, b in pairs),
                statistics.median(a.flash_bytes / b.flash_bytes for a, b in pairs),
                statistics.median(a.latency_ms / b.latency_ms for a, b in pairs))

    def point(self, block: str, se: bool, width: int, resolution: int) -> BlockPoint:
        return next(p for p in self.points if (p.block, p.se, p.width, p.resolution) == (block, se, width, resolution))


def block_spec(block: str, width: int, resolution: int, se: bool, expand: float = DEFAULT_EXPAND) -> ModelSpec:
    """A one-block model: input ``width × resolution²`` → block (stride 1, same width) → pool → 1-class head."""
    e = 1 if block == "sep" else expand
    b = BlockSpec(block, width, stride=1, kernel=3, expand_ratio=e, se=se, act="relu")
    return ModelSpec(f"{block}{'+se' if se else ''}-c{width}-r{resolution}", (resolution, resolution), 1,
                     (StageSpec((b,)),), in_channels=width)


def cost_block(block: str, width: int, resolution: int, se: bool, board: Board, lm: LatencyModel,
               expand: float = DEFAULT_EXPAND, runtime: str | None = None) -> BlockPoint:
    rep = cost_model(block_spec(block, width, resolution, se, expand), board, runtime=runtime, latency_model=lm)
    own = [ly for ly in rep.layers if ly.stage == 0]
    exact = sum(1 for ly in own if ly.source.startswith("exact"))
    return BlockPoint(block, se, width, resolution, sum(ly.macs for ly in own), sum(ly.flash_bytes for ly in own),
                      rep.peak_sram_bytes, sum(ly.latency_ms for ly in own), exact, len(own))


def _order(points: dict[str, BlockPoint], metric: str, norm: str) -> tuple[str, ...]:
    return tuple(sorted(points, key=lambda b: (points[b].metric(metric, norm), BLOCKS.index(b))))


def analyze_blocks(board: Board, lm: LatencyModel, *, widths: Sequence[int] = DEFAULT_WIDTHS,
                   resolutions: Sequence[int] = DEFAULT_RESOLUTIONS, expand: float = DEFAULT_EXPAND,
                   runtime: str | None = None) -> BlockAnalysis:
    """Cost every block variant over ``widths × resolutions`` and count agreement with the paper's rankings."""
    pts = [cost_block(b, w, r, se, board, lm, expand, runtime)
           for se in (False, True) for b in BLOCKS for w in widths for r in resolutions]
    idx = {(p.block, p.se, p.width, p.resolution): p for p in pts}
    checks = []
    for metric in METRICS:
        paper = PAPER_RANKINGS[metric]
        for norm in NORMALIZATIONS:
            for se in (False, True):
                agree = pairs = 0
                orders: Counter[str] = Counter()
                for w in widths:
                    for r in resolutions:
                        obs = _order({b: idx[(b, se, w, r)] for b in BLOCKS}, metric, norm)
                        orders[" > ".join(obs)] += 1
                        agree += obs == paper
                        pairs += sum(obs.index(paper[i]) < obs.index(paper[j])
                                     for i in range(3) for j in range(i + 1, 3))
                checks.append(RankingCheck(metric, norm, se, paper, agree, len(widths) * len(resolutions), pairs,
                                           dict(orders.most_common())))
    return BlockAnalysis(tuple(widths), tuple(resolutions), expand, tuple(pts), tuple(checks))
