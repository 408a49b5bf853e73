"""The TinyOps execution plan as TinyOps' own runtime does it (FACTS §7; read from its F469/F746 sources).

Beside :func:`~atomnet.cost._external.plan_external` (atomnet's plan: weights in Flash/QSPI, activations in SRAM
when they fit, channel splits for weight-heavy operators), this prices what the TinyOps firmware does:

- the model is copied into SDRAM and run from there; the tensor arena (every activation) is in SDRAM;
- an operator in the overlay path (conv, depthwise, pad, add, pool) is split by output rows only, each part's input
  rows (with the kernel's halo) fetched by DMA into one of two ping-pong SRAM buffers while the previous part
  computes; outputs are stored by the CPU straight into SDRAM (not hidden);
- a filter that fits the filter buffer is copied into SRAM by DMA once per operator, before it starts (not
  overlapped: the operator waits for it); a larger one is read in place from SDRAM by the CMSIS-NN kernel, which
  re-reads the weights of each pair of output channels for every pair of output pixels of a part — on a core without
  a data cache (Cortex-M4F) every re-read goes to SDRAM at :attr:`TinyOpsProfile.cpu_read_mb_per_s`; with the
  Cortex-M7's D-cache the two weight rows stay cached, so the weights cross the bus once per part;
- operators outside the overlay path (fully connected, the 1-row head) run in place from SDRAM, weights read once;
  so do the fully connected layers of a squeeze-excite block (they work on its pooled 1×1 vector).

Latency = Σ compute + Σ (filter copy + first part's fetch + Σ_{i≥1} max(0, fetch − compute/parts) + output stores
+ in-place weight reads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from atomnet.boards import Board
from atomnet.cost._external import MAX_PARTS, Bus, ExternalPlan, ExtLayer, ExtOp, split


@dataclass(frozen=True)
class TinyOpsProfile:
    """TinyOps' SRAM buffers on one board (``None``: sized from the scratch, as the F746 build searches them) and
    the CPU's uncached read rate from SDRAM (``None``: the core has a data cache)."""

    scratch_bytes: int
    input_buffer_bytes: int | None
    filter_buffer_bytes: int | None
    cpu_read_mb_per_s: float | None
    source: str


#: F469: fixed buffers of ``STM32469I_DISCO_PO_TFLM/Core/Inc/overlay_base.h`` (TENSOR_BUFFER_SIZE 56448+32 per input
#: buffer, filter buffer 76128+32; 2·56480 + 76160 + the 56480 im2col + 2·4032 bias/quant ≈ 254 KB of the 256 KB RAM
#: of its linker script); no D-cache (the ART accelerator caches internal Flash only), SDRAM read by the CPU at
#: 60 MB/s: one uncached 32-bit read ≈ 6 SDCLK at SDCLK = HCLK/2 = 90 MHz (CAS latency 2-3 + FMC/AHB turnaround),
#: 4 B / 12 HCLK · 180 MHz — an estimate from the bus timing, not fitted (docs/external.md shows its sensitivity).
#: F746: buffers searched so that they fit PLATFORM_AVAILABLE_SRAM = 319,900 B (``main.h``); I- and D-cache on.
PROFILES = {
    "stm32f469-disco": TinyOpsProfile(256 * 1024, 56448 + 32, 76128 + 32, 60.0,
                                      "TinyOps STM32469I_DISCO_PO_TFLM overlay_base.h; SDRAM timing estimate"),
    "stm32f746g-disco": TinyOpsProfile(319_900, None, None, None,
                                       "TinyOps STM32F746NG_DISCO_MINIMAL_CMSIS main.h PLATFORM_AVAILABLE_SRAM"),
}


def _pairs(op: ExtOp, parts: int) -> int:
    """Output-pixel pairs summed over the row parts (the CMSIS-NN kernels' weight re-reads)."""
    base, extra = divmod(op.out_rows, parts)
    return sum(math.ceil((base + (1 if i < extra else 0)) * op.out_cols / 2) for i in range(parts))


def plan_op_tinyops(op: ExtOp, bus: Bus, prof: TinyOpsProfile) -> ExtLayer | None:
    """TinyOps' plan of one operator (activations and weights in SDRAM), or None when no row split fits."""
    w = op.weight_bytes
    cpu_bw = (prof.cpu_read_mb_per_s or 0.0) * 1e3  # bytes per ms
    store = op.out_bytes / bus.sdram_write if op.out_bytes else 0.0
    if op.out_rows <= 1 or op.kind == "dense":  # outside the overlay path: in place from SDRAM, weights read once
        read = (w + op.in_bytes) / (cpu_bw or bus.sdram_read)
        return ExtLayer(op.name, "sdram", "sdram", "sdram", 1, 0, w + op.in_bytes + op.out_bytes, op.compute_ms,
                        read + store, read + store)
    for parts in range(1, min(MAX_PARTS, op.out_rows) + 1):
        p_in = split(op, parts)[0]
        if prof.input_buffer_bytes is not None and p_in > prof.input_buffer_bytes:
            continue
        buffers = p_in * (1 if parts == 1 else 2)
        room = prof.filter_buffer_bytes if prof.filter_buffer_bytes is not None else prof.scratch_bytes - buffers
        copied = w <= room
        if buffers + (w if copied and prof.filter_buffer_bytes is None else 0) > prof.scratch_bytes:
            continue
        filt = bus.read_ms(w, "sdram") if copied else 0.0
        fetch = bus.read_ms(p_in, "sdram")
        c = op.compute_ms / parts
        # squeeze-excite: its fully connected layers run on the pooled 1×1 vector, their weights read once
        rereads = 1 if op.kind == "se" else _pairs(op, parts)
        if copied or w == 0:
            inplace = 0.0
        elif cpu_bw:  # no D-cache: every pair of output pixels re-reads the weights from SDRAM
            inplace = w * rereads / cpu_bw
        else:  # D-cache: the weights cross the bus once per part
            inplace = w * parts / bus.sdram_read
        hidden_fetch = (parts - 1) * max(0.0, fetch - c)
        exposed = filt + fetch + hidden_fetch + store + inplace
        transfer = filt + parts * fetch + store + inplace
        moved = parts * p_in + op.out_bytes + (w if copied else w * (parts if not cpu_bw else rereads))
        ws = buffers + (w if copied else 0)
        return ExtLayer(op.name, "sdram", "sdram", "sdram", parts, ws, moved, op.compute_ms, transfer, exposed)
    return None


def plan_tinyops(ops: list[ExtOp], board: Board, prof: TinyOpsProfile, *, weights_bytes: int,
                 arena_bytes: int) -> ExternalPlan:
    """TinyOps' plan of ``ops`` on ``board`` (its external memory) with the SRAM buffers of ``prof``;
    ``arena_bytes``: the tensor arena TFLite Micro plans (it lives in SDRAM, beside the model's copy)."""
    if board.external is None:
        raise ValueError(f"board {board.name} has no external memory (add an 'external' block to its file)")
    bus = Bus.of(board.external)
    layers, unplaced = [], []
    for op in ops:
        ly = plan_op_tinyops(op, bus, prof)
        if ly is None:
            unplaced.append(op.name)
            ly = ExtLayer(op.name, "sdram", "sdram", "sdram", 0, 0, 0, op.compute_ms, 0.0, 0.0)
        layers.append(ly)
    ext_ram = arena_bytes + weights_bytes
    if ext_ram > board.external.sdram_bytes:
        unplaced.append("(external memory over its size)")
    return ExternalPlan("sdram", "sdram", prof.scratch_bytes, tuple(layers), tuple(unplaced), ext_ram, 0)
