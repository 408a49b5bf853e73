"""The ``qemu`` measurement runner (issue 17, scope 6): single-operator generated programs in QEMU, instruction
counts stored as latency at the qemu boards' nominal 1000 MHz (1 instruction = 1 ns), campaigns that resume,
and kernel additivity of a whole model against the sum of its operators."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from atomnet.boards import get_board
from atomnet.measure import SweepEntry, Variant, get_builder, get_runner, run_campaign
from atomnet.ops import Op

pytestmark = [
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                       reason="needs gcc-arm-none-eabi and qemu-system-arm (make test installs them)"),
]

OPS = [(Op.pointwise(16, 8, 8, 32), Variant("CONV_2D", "relu6")),
       (Op.pointwise(32, 8, 8, 16), Variant("CONV_2D", "none"))]


def test_boards_state_the_unit() -> None:
    for name in ("qemu-m7", "qemu-m4"):
        b = get_board(name)
        assert b.clock_mhz == 1000 and b.runtime == "tinyengine"
        assert "instruction" in b.description and "not real MCU timing" in b.description


def test_qemu_runner_counts_are_deterministic_instruction_counts() -> None:
    pytest.importorskip("tflite_micro")
    runner = get_runner("qemu")
    assert (runner.name, runner.runtime, runner.clock_mhz) == ("qemu", "tinyengine", 1000.0)
    build = get_builder("direct")
    counts = []
    for op, v in OPS:
        s = runner.open(build(op, v, 0), op, v)
        try:
            s.warmup(1)
            reps = [s.repeat() for _ in range(2)]
            assert reps[0] == reps[1] > 0
            n = round(reps[0] * 1e6)  # ms at 1000 MHz → instructions
            assert abs(reps[0] * 1e6 - n) < 1e-6 and n % 40 == 0
            assert s.sram_bytes is not None and s.sram_bytes > 0
            counts.append(n)
        finally:
            s.close()
    # both 1×1 convs do 8·8·16·32 = 32768 MACs: several instructions per MAC each
    assert all(c > 32768 for c in counts)


def test_qemu_campaign_stores_counts_and_resumes(tmp_path: Path) -> None:
    pytest.importorskip("tflite_micro")
    from atomnet.db import AtomDB

    runner = get_runner("qemu")
    entries = [SweepEntry(op, v, 1, 1) for op, v in OPS]
    with AtomDB(tmp_path / "q.sqlite") as db:
        res = run_campaign(entries, runner, db, "qemu-m7", repeats=1, warmup=0, progress=False)
        assert (res.rows_added, res.ops_measured, res.failed) == (2, 2, [])
        again = run_campaign(entries, runner, db, "qemu-m7", repeats=1, warmup=0, progress=False)
        assert again.rows_added == 0
        src = db.sources("qemu-m7")[0]
        assert src["runtime"] == "tinyengine" and src["clock_mhz"] == 1000.0
        st = db.lookup(OPS[0][0], "qemu-m7")
        assert st is not None and st.n == 1 and round(st.median_ms * 1e6) % 40 == 0
