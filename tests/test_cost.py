"""Whole-model cost against the public AtomDB and the paper's calibration point (FACTS §2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from atomnet.boards import CALIBRATION_MS, get_board
from atomnet.cli import main
from atomnet.cost import cost_model, load_latency_model, plan_sram
from atomnet.db import AtomDB
from atomnet.runtimes import get_runtime, list_runtimes
from atomnet.spec import spec_macs
from atomnet.zoo import get_zoo, list_zoo


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_atomnet_256kb_priced_exactly(public_db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _cli_json(capsys, "--db", str(public_db_path), "cost", "atomnet-256kb", "--board", "stm32h743", "--json")
    for key in ("macs", "params", "weights_bytes", "flash_bytes", "peak_sram_bytes", "latency_ms", "ops_exact",
                "ops_predicted", "board", "runtime", "layers"):
        assert key in d
    core = [ly for ly in d["layers"] if ly["kind"] in ("conv", "pointwise", "depthwise", "pad", "dense")]
    se = [ly for ly in d["layers"] if ly["kind"] == "se"]
    assert (len(core), len(se)) == (51, 10)
    assert all(ly["source"] == "exact" for ly in core + se)  # all 61 priced from measurements
    sum_core = sum(ly["latency_ms"] for ly in core + se)
    assert 265 <= sum_core <= 276  # FACTS §2: "about 270–275 ms" (the public medians give 268.4 ms)
    assert d["latency_ms"] == pytest.approx(275, rel=0.03)  # + 7 residual adds and the pool
    assert d["macs"] == spec_macs(get_zoo("atomnet-256kb")) == 78_754_064  # FACTS §2 prints 78.75 M
    assert d["params"] == 787_376
    # Flash = weights + biases (AtomDB formula) + code Flash fitted on the public ST model zoo rows (7.x):
    # per-layer / per-channel bytes in "quant", the base in "code" (tests/test_sram_flash.py recomputes them)
    code = get_runtime("xcube-ai").flash.code_bytes
    assert d["flash_bytes"] == d["weights_bytes"] + d["flash_breakdown"]["bias"] + d["flash_breakdown"]["quant"] + code
    # not fitted on it: the 7.x memory model (activation pool 205,037 B + runtime RAM 33,932 B) vs the paper's
    # 232 KB (FACTS §2): +0.6 %
    assert d["peak_sram_bytes"] == pytest.approx(232 * 1024, rel=0.05)


def test_scale_factors_are_derived_from_the_published_point() -> None:
    """F746 and F412 are priced from H743 rows times a factor fitted on one published point (atomnet-256kb,
    int8, X-CUBE-AI 7.2: 275 / 626 / 2124 ms, FACTS §2): recompute the factors from those figures."""
    published_ms = {"stm32h743": 275.0, "stm32f746": 626.0, "stm32f412": 2124.0}  # FACTS §2, typed from the paper
    assert CALIBRATION_MS == published_ms
    for name in ("stm32f746", "stm32f412"):
        b = get_board(name)
        assert b.reference == "stm32h743" and b.is_scaled
        assert b.time_scale == published_ms[name] / published_ms["stm32h743"]


def test_scaled_boards_predict_other_models(public_db: AtomDB) -> None:
    """Predictions on models the factors were not fitted on: every layer is the H743 price times its kind's factor
    (marked +transfer). No published F746/F412 X-CUBE-AI latency exists for these models (FACTS), so the
    totals are REGRESSION PINS of the current model, not validations."""
    pins_ms = {("atomnet-320kb", "stm32f746"): 811.25, ("atomnet-320kb", "stm32f412"): 2778.25,  # regression pins
               ("atomnet-10fps", "stm32f746"): 95.45, ("atomnet-10fps", "stm32f412"): 315.09}  # (transfers, issue 13)
    lm = load_latency_model(get_board("stm32h743"), public_db)
    for (model, board), pinned in pins_ms.items():
        spec = get_zoo(model)
        h7 = cost_model(spec, "stm32h743", latency_model=lm)
        rep = cost_model(spec, board, db=public_db)
        assert rep.scaled and all(ly.source.endswith("+transfer") for ly in rep.layers)
        t = get_board(board).transfer_for("xcube-ai")  # the board's transfer (docs/transfer.md)
        assert t is not None
        assert [ly.latency_ms for ly in rep.layers] == pytest.approx(
            [ly.latency_ms * t.kind_factor(ly.kind) for ly in h7.layers])
        assert rep.latency_ms == pytest.approx(pinned, abs=0.05), (model, board, rep.latency_ms)


#: (model, runtime) -> (latency ms, peak SRAM bytes, Flash bytes): REGRESSION PINS of the current cost model on
#: the public AtomDB (latency is priced on X-CUBE-AI's lowering for every runtime, so it does not change with it);
#: tflm: head + persistent tail (332,800 + 81,424 and 332,800 + 86,032: the interpreter's, tests/test_export.py)
_PINS = {("atomnet-256kb", "tflm"): (274.74, 414_224, 943_844),
         ("atomnet-256kb", "tinyengine"): (274.74, 321_944, 897_144),
         ("atomnet-256kb", "xcube-ai"): (274.74, 238_969, 923_982),
         ("mcunet-in2", "tflm"): (392.16, 418_832, 906_356),
         ("mcunet-in2", "tinyengine"): (392.16, 219_776, 847_368),
         ("mcunet-in2", "xcube-ai"): (392.16, 244_777, 885_477)}


def test_every_zoo_model_costs_on_every_runtime(public_db: AtomDB) -> None:
    """Every report adds up: latency = Σ layers, SRAM = the runtime's planner + its RAM overhead, Flash = its
    parts with the runtime's code bytes, MACs = the spec's; two models pinned per runtime."""
    lm = load_latency_model(get_board("stm32h743"), public_db)
    for name in list_zoo():
        spec = get_zoo(name)
        for rt in list_runtimes():
            rep = cost_model(spec, "stm32h743", runtime=rt, latency_model=lm)
            runtime = get_runtime(rt)
            assert rep.latency_ms == pytest.approx(sum(ly.latency_ms for ly in rep.layers), rel=1e-12)
            assert rep.peak_sram_bytes == plan_sram(spec, rt).peak_bytes + runtime.ram_overhead_bytes
            assert rep.peak_sram_bytes == sum(rep.sram_breakdown.values())
            assert rep.flash_bytes == sum(rep.flash_breakdown.values())
            assert rep.flash_breakdown["code"] == runtime.flash.code_bytes
            assert rep.macs == spec_macs(spec) and rep.macs == sum(ly.macs for ly in rep.layers)
            assert rep.ops_exact + rep.ops_predicted == len(rep.layers)
            if (name, rt) in _PINS:
                assert (round(rep.latency_ms, 2), rep.peak_sram_bytes, rep.flash_bytes) == _PINS[(name, rt)]


def test_infeasible_model_is_flagged(public_db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A model that does not fit: the report is printed, then exit status 1 (scripts can test it)."""
    argv = ["--db", str(public_db_path), "cost", "atomnet-512kb-max", "--board", "stm32f412"]
    assert main([*argv, "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["feasible"] is False and d["fits"] is False and d["fits_sram"] is False and d["fits_flash"] is False
    over = {o["what"]: o for o in d["over_limits"]}
    assert set(over) == {"peak_sram", "flash"}
    assert over["peak_sram"]["bytes"] == d["peak_sram_bytes"] and over["peak_sram"]["limit_bytes"] == 256 * 1024
    assert over["flash"]["bytes"] == d["flash_bytes"] and over["flash"]["limit_bytes"] == 1024 * 1024
    assert f"{d['peak_sram_bytes'] - 256 * 1024:,} B" in over["peak_sram"]["message"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "OVER the board" in out
    assert f"fits stm32f412: NO (peak SRAM over by {d['peak_sram_bytes'] - 256 * 1024:,} B, Flash over by " in out
    # the same model fits the bigger board: exit 0 and an empty over_limits
    assert main(["--db", str(public_db_path), "cost", "atomnet-256kb", "--board", "stm32h743", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["fits"] is True and d["over_limits"] == []


def test_cost_exit_status_in_a_subprocess(tmp_path: Path) -> None:
    """The exit status a shell script sees: 1 for 'does not fit' (after the report), 0 for 'fits'."""
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "atomnet", "cost"]
    r = subprocess.run([*cmd, "atomnet-512kb-max", "--board", "stm32f412", "--no-layers"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert "fits stm32f412: NO (peak SRAM over by" in r.stdout and r.stderr == ""
    r = subprocess.run([*cmd, "atomnet-256kb", "--no-layers"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "fits stm32h743: yes" in r.stdout
    r = subprocess.run([*cmd, "--help"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "1 it does not fit" in " ".join(r.stdout.split())


def test_embedded_default_without_database(tmp_path: Path) -> None:
    """A fresh install: no database at all, the shipped predictors price everything."""
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "atomnet", "cost", "atomnet-256kb", "--json"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["ops_exact"] == 0 and d["ops_predicted"] == len(d["layers"])
    assert d["latency_ms"] == pytest.approx(275, rel=0.06)
    assert not (tmp_path / "xdg").exists()  # a read-only command creates no database (nor its folder)


def test_bad_spec_errors_name_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = json.loads(Path(__file__).resolve().parents[2].joinpath("shared/zoo/atomnet/atomnet-256kb.json").read_text())
    cfg["stages"][3]["block"] = "transformer"
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(cfg))
    assert main(["cost", str(p)]) == 2
    err = capsys.readouterr().err
    assert "stages[3]" in err and "transformer" in err and "Traceback" not in err
    assert main(["cost", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_plot_written(public_db_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.png"
    assert main(["--db", str(public_db_path), "cost", "atomnet-256kb", "--plot", str(out), "--no-layers"]) == 0
    assert out.stat().st_size > 20_000 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
