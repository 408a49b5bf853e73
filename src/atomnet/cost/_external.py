"""External-memory execution plan (TinyOps, FACTS §7; ``docs/external.md``).

Weights live in internal Flash, else QSPI Flash, else SDRAM; activations in internal SRAM when the internal plan's
peak fits, else in SDRAM with the internal SRAM as scratch. Each operator whose working set does not fit the scratch
is split into ``parts`` (rows of its output; a 1-row output, or an operator whose weights do not fit the scratch
with one row-part, along its output channels with the weights streamed), the
inputs of a part (with the kernel's halo rows) and its weights fetched by DMA while the previous part computes. The
partition factor is the smallest number of parts (1 … :data:`MAX_PARTS`, as TinyOps searches) whose
double-buffered working set fits the scratch.

Per part: ``transfer = bytes_in / bw_read + bytes_out / bw_write + setup · transfers``; the non-hidden transfer of an
operator is the first part's fetch plus ``Σ_{i≥1} max(0, transfer_i − compute_{i−1})`` plus the last part's write
back, where ``compute_i = compute / parts``. Latency = Σ compute + Σ non-hidden transfer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from atomnet.boards import Board, ExternalMemory
from atomnet.jsontypes import JSONDict

#: TinyOps searches the partition factor up to 224 (FACTS §7)
MAX_PARTS = 224
#: sustained / peak bandwidth of an SDRAM or QSPI bus under DMA bursts when the board gives no sustained figure: an
#: assumption (refresh, row misses and bus turnaround; ST AN4861 reports 50-70 % of peak for FMC SDRAM), not fitted
SUSTAINED_FRACTION = 0.6
#: fraction of a transfer that overlaps computation when the DMA and the CPU contend for the bus matrix: 1.0 (the
#: TinyOps model: 2 DMA streams, the CPU works from SRAM); an assumption, not fitted
OVERLAP_EFFICIENCY = 1.0


@dataclass(frozen=True)
class ExtLayer:
    """One operator of an external-memory plan. Sizes in bytes, times in ms."""

    name: str
    input_in: str  # sram | sdram
    output_in: str
    weights_in: str  # flash | qspi | sdram
    parts: int
    working_set_bytes: int  # double-buffered, in the scratch
    bytes_moved: int
    compute_ms: float
    transfer_ms: float
    exposed_ms: float  # the non-hidden part of transfer_ms


@dataclass(frozen=True)
class ExtOp:
    """What the plan needs of one operator: tensor sizes, output rows, kernel and stride (for the halo)."""

    name: str
    in_bytes: int
    out_bytes: int
    weight_bytes: int
    out_rows: int
    in_rows: int
    kernel: int
    stride: int
    compute_ms: float
    live_sram_bytes: int  # the internal plan's live bytes at this operator (activations in SRAM)
    out_cols: int = 1  # output width (pixels per output row)
    kind: str = ""  # the AtomDB kind (pointwise, conv, depthwise, dense, …)


@dataclass(frozen=True)
class Bus:
    """Sustained bandwidths (bytes per ms) and per-transfer fixed cost (ms) of one board's memories."""

    sdram_read: float
    sdram_write: float
    qspi_read: float
    setup_ms: float
    sdram_lat_ms: float
    qspi_lat_ms: float

    @classmethod
    def of(cls, ext: ExternalMemory) -> Bus:
        frac = ext.sustained_fraction or SUSTAINED_FRACTION
        sd = ext.sdram_mb_per_s * frac * 1e3  # MB/s → bytes/ms (1 MB = 1e6 B, as the datasheets count)
        return cls(sd, (ext.sdram_write_mb_per_s * frac * 1e3) or sd, ext.qspi_mb_per_s * frac * 1e3,
                   ext.dma_setup_us / 1e3, ext.sdram_latency_ns / 1e6, ext.qspi_latency_ns / 1e6)

    def read_ms(self, nbytes: int, where: str) -> float:
        if nbytes <= 0 or where in ("sram", "flash"):
            return 0.0
        bw, lat = (self.qspi_read, self.qspi_lat_ms) if where == "qspi" else (self.sdram_read, self.sdram_lat_ms)
        return nbytes / bw + self.setup_ms + lat

    def write_ms(self, nbytes: int, where: str) -> float:
        if nbytes <= 0 or where != "sdram":
            return 0.0
        return nbytes / self.sdram_write + self.setup_ms + self.sdram_lat_ms


def split(op: ExtOp, parts: int, by_channels: bool = False) -> tuple[int, int, int, bool]:
    """Bytes of one part's input, output and streamed weights, and whether the weights are streamed per part
    (channel split: of a 1-row output, or of a weight-heavy operator whose weights do not fit the scratch at once)
    rather than fetched once and kept."""
    if (op.out_rows > 1 and not by_channels) or parts == 1:
        rows = math.ceil(op.out_rows / parts)
        in_rows = min(op.in_rows, (rows - 1) * op.stride + op.kernel)  # the halo of a k×k kernel
        return (math.ceil(op.in_bytes * in_rows / op.in_rows), math.ceil(op.out_bytes * rows / op.out_rows),
                0, False)
    return op.in_bytes, math.ceil(op.out_bytes / parts), math.ceil(op.weight_bytes / parts), True


def plan_op(op: ExtOp, bus: Bus, scratch_bytes: int, act_in: str, weights_in: str) -> ExtLayer | None:
    """The plan of one operator, or None when no partition factor up to :data:`MAX_PARTS` fits the scratch."""
    ext_act = act_in == "sdram"
    ext_w = weights_in != "flash"
    if not ext_act and not ext_w:
        return ExtLayer(op.name, "sram", "sram", weights_in, 1, 0, 0, op.compute_ms, 0.0, 0.0)
    # rows first (TinyOps); an operator whose weights do not fit next to one row-part is split by output channels
    row_parts = min(MAX_PARTS, max(op.out_rows, 1) if op.out_rows > 1 else MAX_PARTS)
    tries = [(p, False) for p in range(1, row_parts + 1)]
    if op.out_rows > 1:
        tries += [(p, True) for p in range(2, MAX_PARTS + 1)]
    for parts, by_ch in tries:
        p_in, p_out, p_w, streamed = split(op, parts, by_ch)
        if not ext_act:
            p_in = p_out = 0  # activations stay in SRAM: only the weights pass through the scratch
        resident = op.weight_bytes if ext_w and not streamed else 0
        if not ext_w:
            p_w = 0
        double = 1 if parts == 1 else 2
        ws = double * (p_in + p_out + p_w) + resident
        if ws > scratch_bytes:
            continue
        fetch = bus.read_ms(p_in, act_in) + bus.read_ms(p_w, weights_in)
        first = fetch + bus.read_ms(resident, weights_in)
        back = bus.write_ms(p_out, act_in)
        c = op.compute_ms / parts
        per_part = fetch + back  # part i+1's fetch and part i-1's write back run while part i computes
        exposed = first + (parts - 1) * max(0.0, per_part - OVERLAP_EFFICIENCY * c) + back
        transfer = first + (parts - 1) * per_part + back
        moved = parts * (p_in + p_out + p_w) + resident
        return ExtLayer(op.name, act_in, act_in, weights_in, parts, ws, moved, op.compute_ms, transfer, exposed)
    return None


@dataclass(frozen=True)
class ExternalPlan:
    """The external-memory plan of one model on one board (``None`` layers: the operator fits no partition)."""

    activations_in: str  # sram | sdram
    weights_in: str  # flash | qspi | sdram
    scratch_bytes: int
    layers: tuple[ExtLayer, ...]
    unplaced: tuple[str, ...]
    ext_ram_bytes: int
    ext_flash_bytes: int

    @property
    def feasible(self) -> bool:
        return not self.unplaced

    @property
    def compute_ms(self) -> float:
        return float(sum(ly.compute_ms for ly in self.layers))

    @property
    def exposed_ms(self) -> float:
        return float(sum(ly.exposed_ms for ly in self.layers))

    @property
    def latency_ms(self) -> float:
        return self.compute_ms + self.exposed_ms

    @property
    def peak_scratch_bytes(self) -> int:
        return max((ly.working_set_bytes for ly in self.layers), default=0)

    def to_dict(self) -> JSONDict:
        d = asdict(self)
        d.update(feasible=self.feasible, latency_ms=self.latency_ms, compute_ms=self.compute_ms,
                 exposed_ms=self.exposed_ms, peak_scratch_bytes=self.peak_scratch_bytes)
        return d


def plan_external(ops: list[ExtOp], board: Board, *, peak_sram_bytes: int, flash_bytes: int,
                  weights_bytes: int, act_total_bytes: int, runtime_ram_bytes: int = 0) -> ExternalPlan:
    """Place and partition ``ops`` on ``board``'s hierarchy. ``peak_sram_bytes``/``flash_bytes``: the internal plan's
    figures (they decide whether activations/weights must leave the chip); ``act_total_bytes``: every activation
    tensor (their SDRAM footprint when they move there, no reuse — the conservative TinyOps layout)."""
    ext = board.external
    if ext is None:
        raise ValueError(f"board {board.name} has no external memory (add an 'external' block to its file)")
    bus = Bus.of(ext)
    act_in = "sram" if peak_sram_bytes <= board.sram_bytes else "sdram"
    code = flash_bytes - weights_bytes
    if flash_bytes <= board.flash_bytes:
        w_in = "flash"
    elif weights_bytes <= ext.qspi_bytes and ext.qspi_mb_per_s > 0 and code <= board.flash_bytes:
        w_in = "qspi"
    else:
        w_in = "sdram"
    scratch_all = board.sram_bytes - runtime_ram_bytes
    layers, unplaced = [], []
    for op in ops:
        scratch = scratch_all - (op.live_sram_bytes if act_in == "sram" else 0)
        ly = plan_op(op, bus, scratch, act_in, w_in)
        if ly is None:
            unplaced.append(op.name)
            ly = ExtLayer(op.name, act_in, act_in, w_in, 0, 0, 0, op.compute_ms, 0.0, 0.0)
        layers.append(ly)
    ext_ram = (act_total_bytes if act_in == "sdram" else 0) + (weights_bytes if w_in == "sdram" else 0)
    ext_flash = weights_bytes if w_in == "qspi" else 0
    if ext_ram > ext.sdram_bytes or ext_flash > ext.qspi_bytes:
        unplaced.append("(external memory over its size)")
    return ExternalPlan(act_in, w_in, scratch_all, tuple(layers), tuple(unplaced), ext_ram, ext_flash)
