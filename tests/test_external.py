"""External-memory plan (TinyOps): the overlap arithmetic by hand, board files, the TinyOps boards."""

from __future__ import annotations

import pytest

from atomnet.boards import Board, ExternalMemory, get_board, load_board_file
from atomnet.cost._external import ExtOp, plan_external
from atomnet.cost._external_cost import external_cost
from atomnet.errors import InputError
from atomnet.zoo import get_zoo


def test_two_layer_overlap_by_hand() -> None:
    """Scratch 4,000 B; SDRAM 100 MB/s sustained (1e5 B/ms) both ways, DMA setup 10 µs = 0.01 ms, no latency.
    Activations in SDRAM (internal peak 6,000 B > 4,000), weights in internal Flash.

    Layer A: 3×3 conv, stride 1, in and out 3,000 B over 10 rows (300 B/row), compute 1.0 ms.
      parts 1: 2·… no, one part = 3,000 + 3,000 = 6,000 > 4,000; parts 2: 5 out rows, 5-1+3 = 7 in rows:
      2·(2,100 + 1,500) = 7,200; parts 3: 4 rows, 6 in rows: 2·(1,800 + 1,200) = 6,000; parts 4: 3 rows, 5 in rows:
      2·(1,500 + 900) = 4,800; parts 5: 2 rows, 4 in rows: 2·(1,200 + 600) = 3,600 ≤ 4,000 → 5 parts.
      fetch = 1,200/1e5 + 0.01 = 0.022 ms, write back = 600/1e5 + 0.01 = 0.016 ms, compute/part = 0.2 ms:
      hidden (0.038 < 0.2) → exposed = first fetch 0.022 + last write back 0.016 = 0.038 ms;
      transfer = 0.022 + 4·0.038 + 0.016 = 0.190 ms; bytes moved 5·(1,200 + 600) = 9,000.
    Layer B: 1×1 conv, same sizes, compute 0.05 ms.
      parts 3: 4 rows → 2·(1,200 + 1,200) = 4,800 > 4,000; parts 4: 3 rows → 2·(900 + 900) = 3,600 → 4 parts.
      fetch = write back = 900/1e5 + 0.01 = 0.019 ms; per part 0.038 ms > compute/part 0.0125 ms:
      exposed = 0.019 + 3·(0.038 − 0.0125) + 0.019 = 0.1145 ms.
    Latency = 1.05 + 0.038 + 0.1145 = 1.2025 ms.
    """
    ext = ExternalMemory(1_000_000, 100.0, 0, 0.0, sustained_fraction=1.0, dma_setup_us=10.0)
    board = Board("toy", "cortex-m7", 100, 4000, 100_000, external=ext)
    a = ExtOp("a", 3000, 3000, 0, 10, 10, 3, 1, 1.0, 0)
    b = ExtOp("b", 3000, 3000, 0, 10, 10, 1, 1, 0.05, 0)
    plan = plan_external([a, b], board, peak_sram_bytes=6000, flash_bytes=0, weights_bytes=0,
                         act_total_bytes=9000)
    la, lb = plan.layers
    assert (plan.activations_in, plan.weights_in) == ("sdram", "flash")
    assert (la.parts, la.working_set_bytes, la.bytes_moved) == (5, 3600, 9000)
    assert la.exposed_ms == pytest.approx(0.038)
    assert la.transfer_ms == pytest.approx(0.190)
    assert (lb.parts, lb.working_set_bytes) == (4, 3600)
    assert lb.exposed_ms == pytest.approx(0.1145)
    assert plan.latency_ms == pytest.approx(1.2025)
    assert plan.feasible and plan.ext_ram_bytes == 9000


def test_unfit_operator_is_unplaced() -> None:
    ext = ExternalMemory(1_000_000, 100.0, sustained_fraction=1.0)
    board = Board("toy", "cortex-m7", 100, 100, 100_000, external=ext)
    plan = plan_external([ExtOp("big", 3000, 3000, 0, 1, 1, 1, 1, 1.0, 0)], board, peak_sram_bytes=6000,
                         flash_bytes=0, weights_bytes=0, act_total_bytes=6000)
    assert not plan.feasible and plan.unplaced == ("big",)


def test_tinyops_boards() -> None:
    f746 = get_board("stm32f746g-disco")
    assert f746.external is not None and f746.external.sdram_bytes == 8 * 1024**2
    assert f746.external.qspi_mb_per_s == 54.0 and f746.transfer_for("cmsis-nn") is not None
    assert get_board("stm32f469-disco").external.sdram_mb_per_s == 360.0  # type: ignore[union-attr]
    assert get_board("stm32h750b-dk").external is not None


def test_internal_model_keeps_internal_plan() -> None:
    e = external_cost(get_zoo("proxyless-w0.3-r176"), "stm32f746g-disco", runtime="tinyengine")
    assert e.plan is None and e.report == e.internal


def test_big_model_needs_external_memory() -> None:
    e = external_cost(get_zoo("mcunet-in4"), "stm32f746g-disco", runtime="tinyengine", latency_runtime="cmsis-nn")
    assert not e.internal.feasible
    assert e.plan is not None and e.plan.feasible and e.feasible
    assert e.plan.activations_in == "sdram" and e.plan.weights_in == "qspi"
    assert e.report.peak_sram_bytes <= 320 * 1024 and e.report.latency_ms > e.plan.compute_ms


def test_board_file_external_validated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "b.toml"
    p.write_text('name="x"\ncore="cortex-m7"\nclock_mhz=216\nsram="320KB"\nflash="1MB"\n'
                 '[external]\nsdram="8MB"\nsdram_mb_per_s=216\ndma_setup_us=2\n'
                 'sram_regions=[{name="DTCM", size="64KB", tcm=true}]\n')
    b = load_board_file(p)
    assert b.external is not None and b.external.sram_regions[0].tcm and b.external.dma_setup_us == 2.0
    p.write_text('name="x"\ncore="cortex-m7"\nclock_mhz=216\nsram="320KB"\nflash="1MB"\n'
                 '[external]\nsdram="8MB"\nsdram_bw=216\n')
    with pytest.raises(InputError, match=r"external: unknown field.*sdram_bw"):
        load_board_file(p)
    p.write_text('name="x"\ncore="cortex-m7"\nclock_mhz=216\nsram="320KB"\nflash="1MB"\n'
                 '[external]\nsdram_mb_per_s=-1\n')
    with pytest.raises(InputError, match=r"sdram_mb_per_s: expected a number >= 0"):
        load_board_file(p)


def test_tinyops_plan_by_hand() -> None:
    """TinyOps' own plan (rows only, filter copied once or read in place). SDRAM 100 MB/s both ways (1e5 B/ms), DMA
    setup 0.01 ms. Profile: 2,000 B per ping-pong input buffer, 1,000 B filter buffer, CPU reads SDRAM at 10 MB/s
    (1e4 B/ms, no D-cache).

    A: 3×3 conv, in/out 3,000 B over 10 rows (out 5 px/row), weights 800 B (fit the filter buffer), compute 1.0 ms.
      parts 1: in 3,000 > 2,000; parts 2: 5 rows, 7 in rows = 2,100 > 2,000; parts 3: 4 rows, 6 in rows = 1,800 → 3.
      filter copy 800/1e5 + 0.01 = 0.018, first fetch 1,800/1e5 + 0.01 = 0.028, later fetches hidden (0.028 < 1/3),
      CPU stores 3,000/1e5 = 0.030 → exposed 0.076 ms; working set 2·1,800 + 800 = 4,400 B.
    B: 1×1 conv, in 3,000 B / out 1,500 B over 10 rows (5 px/row), weights 4,000 B (> 1,000: read in place),
      compute 0.05 ms. parts 2 (in 1,500 B each); each part has 25 px = 13 pixel pairs → 26 re-reads:
      4,000·26/1e4 = 10.4 ms; fetch 0.025 = compute/part 0.025 (hidden); stores 0.015 → exposed 10.44 ms.
      With a D-cache (scratch 5,000 B, buffers sized from it): 1 part (3,000 B), the 4,000 B filter does not fit the
      2,000 B left → in place once per part at the DMA rate: 0.04 + fetch 0.04 + stores 0.015 = 0.095 ms.
    C: dense 1,280 → 1,000 B, weights 5,000 B: in place, (5,000 + 1,280)/1e4 = 0.628 + stores 0.010 = 0.638 ms.
    """
    from atomnet.cost._external import Bus
    from atomnet.cost._external_tinyops_plan import TinyOpsProfile, plan_op_tinyops

    bus = Bus.of(ExternalMemory(1_000_000, 100.0, 0, 0.0, sustained_fraction=1.0, dma_setup_us=10.0))
    nocache = TinyOpsProfile(10_000, 2_000, 1_000, 10.0, "toy")
    a = plan_op_tinyops(ExtOp("a", 3000, 3000, 800, 10, 10, 3, 1, 1.0, 0, 5, "conv"), bus, nocache)
    assert a is not None and (a.parts, a.working_set_bytes, a.bytes_moved) == (3, 4400, 9200)
    assert a.exposed_ms == pytest.approx(0.076)
    b_op = ExtOp("b", 3000, 1500, 4000, 10, 10, 1, 1, 0.05, 0, 5, "pointwise")
    b = plan_op_tinyops(b_op, bus, nocache)
    assert b is not None and (b.parts, b.working_set_bytes) == (2, 3000)
    assert b.exposed_ms == pytest.approx(10.44)
    cached = plan_op_tinyops(b_op, bus, TinyOpsProfile(5_000, None, None, None, "toy"))
    assert cached is not None and cached.parts == 1 and cached.exposed_ms == pytest.approx(0.095)
    c = plan_op_tinyops(ExtOp("c", 1280, 1000, 5000, 1, 1, 1, 1, 0.5, 0, 1, "dense"), bus, nocache)
    assert c is not None and c.exposed_ms == pytest.approx(0.638)
    assert plan_op_tinyops(ExtOp("d", 30_000, 3000, 0, 10, 1, 1, 1, 1.0, 0, 5, "pointwise"), bus, nocache) is None
