"""Building an AtomDB on the host: sweeps, single-op models in the real TFLite Micro, campaigns that survive
SIGKILL, the import runner, and the result used by `atomnet cost`."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from atomnet.cli import main
from atomnet.db import AtomDB
from atomnet.measure import (
    SweepEntry,
    Variant,
    build_direct,
    flag_outliers,
    get_runner,
    list_runners,
    read_sweep,
    run_campaign,
    sweep,
    sweep_specs,
    write_models,
    write_sweep,
)
from atomnet.ops import Op
from atomnet.spec import lower
from atomnet.zoo import get_zoo

pytest.importorskip("tflite_micro")

REPO = Path(__file__).resolve().parents[1]

SINGLE_OPS = [
    (Op.pointwise(16, 8, 8, 32), Variant("CONV_2D", "relu6")),
    (Op.conv(3, 32, 32, 16, 3, 2, padding=1), Variant("CONV_2D", "relu")),
    (Op("depthwise", 16, 9, 9, 16, 5, 5, 3, 2, 16), Variant("DEPTHWISE_CONV_2D")),
    (Op("depthwise", 8, 8, 8, 16, 8, 8, 5, 1, 8), Variant("DEPTHWISE_CONV_2D")),  # channel multiplier 2
    (Op.dense(64, 10), Variant("FULLY_CONNECTED")),
    (Op.pool(16, 5, 5), Variant("MEAN")),
    (Op.eltwise(16, 5, 5), Variant("ADD")),
    (Op.eltwise(16, 5, 5), Variant("MUL")),  # SE gate × map (broadcast)
    (Op.eltwise(16, 5, 5), Variant("HARD_SWISH")),
]


def test_built_in_runners_are_registered() -> None:
    """The built-ins (every registered runner runs the contract suite in test_contracts.py)."""
    assert {"import", "serial", "tflm-host"} <= set(list_runners())


@pytest.mark.parametrize(("op", "variant"), SINGLE_OPS, ids=lambda v: v.describe() if isinstance(v, Op) else "")
def test_single_op_models_run_in_tflm(op: Op, variant: Variant) -> None:
    from atomnet.export import parse_tflite

    data = build_direct(op, variant)
    m = parse_tflite(data)
    assert dict(m.op_counts()) == {variant.tflite_op: 1}
    assert not m.float_ops()
    if op.kind in ("conv", "pointwise", "depthwise", "dense"):
        assert m.const_bytes == op.flash_bytes  # int8 weights + int32 biases, as AtomDB counts Flash
    s = get_runner("tflm-host", min_repeat_ms=0.2).open(data, op, variant)
    s.warmup(1)
    assert s.repeat() > 0 and s.sram_bytes and s.sram_bytes >= op.out_elems


def test_sweep_counts_and_order(tmp_path: Path) -> None:
    from atomnet.search import get_space

    entries = sweep(get_space("hybrid"), limit=8, seed=1)
    assert len({e.op.key for e in entries}) == len(entries)
    archs = [e.archs for e in entries]
    assert archs == sorted(archs, reverse=True) and archs[0] <= 8
    assert {e.op.kind for e in entries} <= {"conv", "pointwise", "depthwise", "eltwise", "pool", "dense"}
    p = tmp_path / "ops.jsonl"
    write_sweep(entries, p)
    assert read_sweep(p) == entries
    bad = tmp_path / "bad.jsonl"
    bad.write_text(p.read_text().splitlines()[0].replace('"count"', '"cnt"') + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: unknown field\(s\) \['cnt'\]"):
        read_sweep(bad)
    man = write_models(((e.op, e.variant) for e in entries[:3]), tmp_path / "models")
    rows = [json.loads(x) for x in man.read_text().splitlines()]
    assert len(rows) == 3 and all((tmp_path / "models" / r["file"]).stat().st_size == r["bytes"] for r in rows)


def test_outlier_flags() -> None:
    assert flag_outliers([1.0, 1.01, 0.99, 1.0, 3.0]) == [False, False, False, False, True]
    assert flag_outliers([1.0, 2.0]) == [False, False]


def test_host_campaign_lands_in_fresh_db_and_prices_a_model(tmp_path: Path) -> None:
    """Every operator of a zoo model measured on the host → `atomnet cost` prices it from exact rows only."""
    spec = get_zoo("mcunet-vww0")
    entries = sweep_specs([spec])
    db = AtomDB(tmp_path / "host.sqlite")
    runner = get_runner("tflm-host", min_repeat_ms=0.2)
    res = run_campaign(entries, runner, db, "host", repeats=3, warmup=1, progress=False)
    assert res.ops_measured == len(entries) and res.rows_added == 3 * len(entries) and not res.failed
    assert db.sources("host")[0]["runtime"] == "tflm"
    again = run_campaign(entries, runner, db, "host", repeats=3, warmup=1, progress=False)
    assert again.rows_added == 0 and again.ops_skipped == len(entries)
    from atomnet.cost import cost_model

    rep = cost_model(spec, "host", db=db)
    assert rep.latency_runtime == "tflm"
    table = db.table("host")
    want = sum(table.get(layer.op) or 0.0 for layer in lower(spec, "tflm").layers)
    assert rep.latency_ms == pytest.approx(want) and all(lc.source == "exact" for lc in rep.layers)
    db.close()
    assert main(["--db", str(tmp_path / "host.sqlite"), "cost", "mcunet-vww0", "--board", "host"]) == 0


def test_import_runner_jsonl(tmp_path: Path) -> None:
    ops = [Op.pointwise(8, 4, 4, 16), Op.eltwise(8, 4, 4)]
    res_file = tmp_path / "results.jsonl"
    res_file.write_text(json.dumps({"op": ops[0].to_dict(), "latency_ms": [0.5, 0.52, 0.51], "sram_bytes": 100})
                        + "\n" + json.dumps({"op": ops[1].to_dict(), "latency_ms": 0.1}) + "\n")
    entries = [SweepEntry(op, Variant("CONV_2D" if op.kind == "pointwise" else "ADD"), 1, 1) for op in ops]
    db = AtomDB(tmp_path / "b.sqlite")
    r = run_campaign(entries, get_runner("import", path=res_file), db, "myboard", repeats=3, progress=False)
    assert r.rows_added == 4 and len(r.failed) == 1 and "only 1 repeat" in r.failed[0]["error"]
    st = db.lookup(ops[0], "myboard")
    assert st is not None and st.median_ms == pytest.approx(0.51)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"op": ops[0].to_dict(), "latency": 1}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: unknown field"):
        get_runner("import", path=bad)


def _rows(db_path: Path) -> list[tuple[str, float]]:
    con = sqlite3.connect(db_path)
    try:
        return con.execute("SELECT campaign_key, latency_ms FROM measurements ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def _simulator(*args: str) -> tuple[subprocess.Popen[str], str]:
    """The device simulator on its own pseudo-terminal, like a board on a serial port: (process, port)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    p = subprocess.Popen([sys.executable, "-m", "atomnet.measure._simulator", "--pty", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert p.stdout is not None
    return p, p.stdout.readline().strip()


def test_sigkill_and_resume(tmp_path: Path) -> None:
    """A campaign killed with SIGKILL twice, mid-run, then re-run: every repeat exactly once, earlier rows kept.

    The kill points do not depend on speed: the board (the simulator on a pty) hangs after a given number of
    timed repeats, so the campaign is blocked with exactly that many rows committed when it is killed."""
    spec = get_zoo("mcunet-in0")
    entries = sweep_specs([spec])[:12]
    ops = tmp_path / "ops.jsonl"
    write_sweep(entries, ops)
    board = tmp_path / "simboard.toml"
    board.write_text('name = "simboard"\ncore = "cortex-m7"\nclock_mhz = 480\nsram = "512KB"\nflash = "2MB"\n')
    db_path = tmp_path / "kill.sqlite"
    repeats = 4

    def cmd(port: str) -> list[str]:
        return [sys.executable, "-m", "atomnet", "--db", str(db_path), "db", "measure", str(ops), "--runner",
                "serial", "--port", port, "--timeout", "10", "--board", str(board), "--repeats", str(repeats),
                "--warmup", "1", "--no-progress"]

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    kept: list[tuple[str, float]] = []
    for more in (3, 18):  # killed after 3 and 21 rows: inside the 1st operator, then inside the 6th
        sim, port = _simulator("--stall-after-repeats", str(more))
        p = subprocess.Popen(cmd(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 300  # a safety net only: the count is reached, then the board hangs
            while len(_rows(db_path)) < len(kept) + more and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert p.poll() is None, "the campaign ended although the board hung"
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        finally:
            p.kill()
            p.wait()
            sim.kill()
            sim.wait()
        rows = _rows(db_path)
        assert rows[: len(kept)] == kept  # nothing committed before was lost or changed
        assert len(rows) == len(kept) + more
        kept = rows
    sim, port = _simulator()
    try:
        done = subprocess.run(cmd(port), env=env, capture_output=True, text=True, timeout=600)
    finally:
        sim.kill()
        sim.wait()
    assert done.returncode == 0, done.stderr
    rows = _rows(db_path)
    keys = [k for k, _ in rows]
    assert len(keys) == len(set(keys)) == repeats * len(entries)
    assert rows[: len(kept)] == kept
    with AtomDB(db_path) as db:
        assert len(db.sources("simboard")) == 1  # resumed runs share the campaign's provenance record
        for e in entries:
            st = db.lookup(e.op, "simboard")
            assert st is not None and st.n == repeats
            assert np.isfinite(st.median_ms)


@pytest.mark.slow  # > 20 s on 2 shared cores (pytest --durations)
def test_additivity_of_an_exported_model(tmp_path: Path) -> None:
    """The whole model from the real export path has exactly the lowering's operators; each is measured alone."""
    pytest.importorskip("onnx2tf")
    from collections import Counter

    from atomnet.export import parse_tflite
    from atomnet.measure import additivity
    from atomnet.measure._additivity import whole_model_bytes
    from atomnet.spec import from_stage_config

    spec = from_stage_config({"name": "tiny", "input_resolution": 32, "num_classes": 10, "stages": [
        {"block": "sep", "depth": 1, "out_channels": 16, "stride": 2, "kernel": 3, "expand_ratio": 1, "se": False,
         "act": "relu6"},
        {"block": "mbconv", "depth": 2, "out_channels": 16, "stride": 1, "kernel": 3, "expand_ratio": 3,
         "se": True, "act": "hswish"}]})
    data = whole_model_bytes(spec, cache=tmp_path)
    assert (tmp_path / "tiny.tflite").is_file()
    graph = lower(spec, "tflm")
    assert parse_tflite(data).op_counts() == Counter(layer.tflite_op for layer in graph.layers)
    rep = additivity(spec, get_runner("tflm-host", min_repeat_ms=0.2), repeats=3, model=data)
    assert len(rep.layers) == len(graph.layers) and rep.whole_ms > 0 and rep.sum_min_ms > 0
    assert sum(x["share"] for x in rep.layers) == pytest.approx(1.0)
    assert set(rep.to_dict()) >= {"whole_ms", "sum_ms", "deviation", "deviation_min", "layers"}


def test_cli_sweep_measure_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.sqlite")
    ops = str(tmp_path / "ops.jsonl")
    assert main(["--db", db, "db", "sweep", "--space", "hybrid", "--limit", "3", "--out", ops, "--json"]) == 0
    n = json.loads(capsys.readouterr().out)["ops"]
    assert n == len(read_sweep(ops))
    assert main(["--db", db, "db", "measure", ops, "--board", "host", "--limit", "4", "--repeats", "2",
                 "--min-repeat-ms", "0.2", "--no-progress", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows_added"] == 8 and out["ops_per_s"] > 0
    assert main(["--db", db, "db", "sweep", "--limit", "3", "--board", "host", "--missing-only", "--out", ops,
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ops"] == n - 4
    assert main(["--db", db, "db", "models", ops, "--out", str(tmp_path / "m"), "--limit", "2"]) == 0
    assert len(list((tmp_path / "m").glob("*.tflite"))) == 2


@pytest.mark.slow  # > 20 s on 2 shared cores (pytest --durations)
def test_direct_single_op_matches_the_export_path() -> None:
    """The fast flatbuffer builder writes what the real export (torch → ONNX → onnx2tf int8) writes for the op."""
    pytest.importorskip("onnx2tf")
    from atomnet.export import parse_tflite
    from atomnet.measure import get_builder
    from atomnet.spec import same_depthwise

    op, v = same_depthwise(16, 9, 9, 3, 2), Variant("DEPTHWISE_CONV_2D", "relu6")
    e, d = parse_tflite(get_builder("export")(op, v, 0)), parse_tflite(build_direct(op, v))
    assert e.op_counts() == d.op_counts() and e.const_bytes == d.const_bytes == op.flash_bytes
    assert sorted(t.shape for t in e.tensors if t.const_bytes) == sorted(t.shape for t in d.tensors if t.const_bytes)
    assert [(o.padding, o.fused_act, o.stride) for o in e.ops] == [(o.padding, o.fused_act, o.stride) for o in d.ops]
    assert [t.shape for t in e.tensors if t.index in e.inputs] == [t.shape for t in d.tensors if t.index in d.inputs]
