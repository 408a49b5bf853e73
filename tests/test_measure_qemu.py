"""The ``qemu`` measurement runner (issue 17, scope 6): single-operator generated programs in QEMU, instruction
counts stored as latency at the qemu boards' nominal 1000 MHz (1 instruction = 1 ns), campaigns that resume,
and kernel additivity of a whole model against the sum of its operators."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

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


# ---- an AtomDB for qemu-m7 from a sweep of the hybrid space: additivity, cost and search on it -----------------

SWEEP = ["--space", "hybrid", "--limit", "1", "--resolutions", "48", "--runtime", "tinyengine"]


def _cli(*argv: str) -> tuple[int, str, str]:
    """``atomnet ARGV`` in this process (the CLI entry point): exit status, stdout, stderr."""
    import contextlib
    import io

    from atomnet.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def _json_cli(*argv: str) -> dict[str, Any]:
    rc, out, err = _cli(*argv, "--json")
    assert rc == 0, (argv, err[-2000:])
    return dict(json.loads(out))


def test_tinyengine_sweep_names_the_eltwise_operator() -> None:
    """The tinyengine lowering names no TFLite operators: a sweep of it gives element-wise keys their function's
    operator (the SE multiply is MUL, the residual ADD), the others their kind's, so single-op models build."""
    from atomnet.measure import sweep
    from atomnet.search import get_space

    entries = sweep(get_space("hybrid"), limit=1, resolutions=[48], runtime="tinyengine")
    ops = {(e.op.kind, e.op.eltwise_fn): e.variant.tflite_op for e in entries}
    assert ops[("eltwise", "mul")] == "MUL" and ops[("eltwise", "add")] == "ADD"
    assert ops[("pool", "")] == "MEAN" and ops[("depthwise", "")] == "DEPTHWISE_CONV_2D"
    assert all(e.variant.tflite_op for e in entries)
    build = get_builder("direct")
    mul = next(e for e in entries if e.op.eltwise_fn == "mul")
    assert len(build(mul.op, mul.variant, 0)) > 0


@pytest.fixture(scope="module")
def qemu_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``atomnet db sweep`` of one hybrid-space architecture at 48×48 (tinyengine lowering: 40 operators of every
    kind) measured with ``atomnet db measure --runner qemu --board qemu-m7``."""
    pytest.importorskip("tflite_micro")
    d = tmp_path_factory.mktemp("qemu-db")
    ops, db = str(d / "ops.jsonl"), str(d / "q.sqlite")
    sw = _json_cli("db", "sweep", *SWEEP, "--out", ops)
    assert sw["ops"] == 40 and set(sw["by_kind"]) == {"conv", "pointwise", "depthwise", "eltwise", "pool", "dense"}
    res = _json_cli("--db", db, "db", "measure", ops, "--runner", "qemu", "--board", "qemu-m7", "--repeats", "1",
                    "--warmup", "0", "--no-progress")
    assert (res["ops_measured"], res["failed"]) == (40, [])
    return Path(db)


@pytest.fixture(scope="module")
def fitted_qemu_db(qemu_db: Path) -> Path:
    """The same database with ``atomnet db fit --board qemu-m7`` run on it."""
    import sqlite3

    fitted = qemu_db.with_name("fitted.sqlite")
    with sqlite3.connect(qemu_db) as src, sqlite3.connect(fitted) as dst:  # the WAL's rows too
        src.backup(dst)
    rc, out, err = _cli("--db", str(fitted), "db", "fit", "--board", "qemu-m7")
    assert rc == 0, err
    assert "from 40 keys" in out
    return fitted


@pytest.mark.slow  # 40 operators built, cross-compiled and run in QEMU
def test_cost_of_a_swept_model_is_the_sum_of_its_stored_counts(qemu_db: Path, tmp_path: Path) -> None:
    from atomnet.db import AtomDB
    from atomnet.measure import space_specs
    from atomnet.search import get_space
    from atomnet.spec import lower

    spec = space_specs(get_space("hybrid"), limit=1, seed=0, resolutions=[48])[0]
    path = tmp_path / "swept.json"
    path.write_text(json.dumps(spec.to_dict()))
    c = _json_cli("--db", str(qemu_db), "cost", str(path), "--board", "qemu-m7")
    layers = lower(spec, "tinyengine").layers
    assert (c["ops_exact"], c["ops_predicted"]) == (len(layers), 0)
    with AtomDB(qemu_db) as db:
        counts = []
        for layer in layers:
            st = db.lookup(layer.op, "qemu-m7")
            assert st is not None
            counts.append(round(st.median_ms * 1e6))  # instructions (1 ns each at the nominal 1000 MHz)
    assert all(n > 0 and n % 40 == 0 for n in counts)
    assert c["latency_ms"] == pytest.approx(sum(counts) / 1e6, rel=1e-9)
    # a zoo model's operators are not in this sweep: without predictors that is an error telling what to run
    rc, _, err = _cli("--db", str(qemu_db), "cost", "mcunet-vww0", "--board", "qemu-m7")
    assert rc != 0 and "no measurement of" in err and "atomnet db fit --board qemu-m7" in err


@pytest.mark.slow
def test_search_on_the_qemu_db_returns_a_feasible_model(fitted_qemu_db: Path, tmp_path: Path) -> None:
    db, best = str(fitted_qemu_db), tmp_path / "best.json"
    r = _json_cli("--db", db, "search", "--board", "qemu-m7", "--sram", "256KB", "--flash", "1MB", "--latency",
                  "200ms", "--out", str(best), "--no-progress")
    assert r["found"] and r["feasible"] > 0 and r["evaluated"] >= r["feasible"]
    c = r["cost"]
    assert 0 < c["latency_ms"] <= 200 and c["peak_sram_bytes"] <= 256 * 1024 and c["flash_bytes"] <= 1024**2
    assert c["ops_exact"] > 0  # some of its operators are the measured ones, the rest predicted
    again = _json_cli("--db", db, "cost", str(best), "--board", "qemu-m7")
    assert again["latency_ms"] == pytest.approx(c["latency_ms"], rel=1e-9)
    assert again["peak_sram_bytes"] == c["peak_sram_bytes"]


ADDITIVITY_MODELS = ["mcunet-vww0", "mcunet-in0", "mcunet-in1"]


@pytest.mark.slow  # the whole model (73-156 M instructions) and its ~50 operators in QEMU
@pytest.mark.parametrize("name", ADDITIVITY_MODELS)
def test_zoo_model_is_additive_in_qemu_and_predicted_from_the_sweep(
        name: str, zoo_int8_exports: dict[str, Path], fitted_qemu_db: Path) -> None:
    """``atomnet db additivity --runner qemu --board qemu-m7``: the whole model's instruction count against the
    sum of its operators' counts, each alone (AtomNet §3: within 1 %). The same model costed from the sweep's
    database (its operators predicted: none of them was swept) lands near the measured whole."""
    a = _json_cli("db", "additivity", name, "--runner", "qemu", "--board", "qemu-m7", "--repeats", "1",
                  "--tflite", str(zoo_int8_exports[name]))
    whole, total = round(a["whole_ms"] * 1e6), round(a["sum_ms"] * 1e6)
    assert whole > 50_000_000 and whole % 40 == 0 and len(a["layers"]) > 40
    assert abs(a["deviation"]) < 0.01, (name, whole, total)
    c = _json_cli("--db", str(fitted_qemu_db), "cost", name, "--board", "qemu-m7")
    assert c["ops_predicted"] > 0
    assert abs(c["latency_ms"] / a["whole_ms"] - 1) < 0.15, (name, c["latency_ms"], a["whole_ms"])
