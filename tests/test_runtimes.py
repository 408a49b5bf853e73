"""The runtime registry (atomnet.runtimes): canonical names and aliases, a toy runtime added by one registration
and costed end to end, and a contract every registered runtime passes."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from atomnet.boards import get_board, load_board_file
from atomnet.cost import (
    BatchCoster,
    FlashModel,
    LatencyModel,
    Runtime,
    cost_model,
    get_planner,
    list_planners,
    load_latency_model,
    plan_sram,
    scoped_runtime,
)
from atomnet.cost._sram import TinyEnginePlanner  # a test may reuse a planner's rules by subclassing
from atomnet.db import AtomDB
from atomnet.ops import WEIGHTED_KINDS, Op
from atomnet.runtimes import canonical_runtime, get_runtime, list_runtimes, register_runtime, runtime_names
from atomnet.search import build_tables, get_space
from atomnet.spec import BlockSite, Prim, from_stage_config, list_lowerings, lower, spec_macs
from atomnet.spec._lower import XCubeAILowering  # a test may reuse a lowering's rules by subclassing
from atomnet.zoo import get_zoo

TOY_CODE = 12_345


class ToyLowering(XCubeAILowering):
    """X-CUBE-AI's operators, but every depthwise runs in place (a runtime with its own lowering)."""

    def dw(self, name: str, x: int, p: Prim, site: BlockSite) -> int:
        y = super().dw(name, x, p, site)
        layer = self.g.layers[-1]
        self.g.layers[-1] = dataclasses.replace(layer, inplace=layer.op.c_out == layer.op.c_in)
        return y


class ToyPlanner(TinyEnginePlanner):
    """TinyEngine's rules with its im2col and kernel buffers ignored (a runtime with its own planner)."""

    def extra_bytes(self, extras: list[tuple[int, ...]]) -> int:
        return 0


TOY = Runtime("toy-rt", "0.1", lowering="toy-rt", planner="toy-rt", aliases=("toy",), ram_overhead_bytes=2048,
              ram_overhead_source="made up for the test",
              flash=FlashModel("int8 weights + int32 biases, 2 bytes per output channel", "int32", 2, TOY_CODE,
                               "made up for the test"))


def test_names_and_aliases() -> None:
    assert list_runtimes() == sorted(list_runtimes()) and "xcube-ai" in list_runtimes()
    assert canonical_runtime("x-cube-ai") == canonical_runtime("xcube-ai") == "xcube-ai"
    assert {"x-cube-ai", *list_runtimes()} <= set(runtime_names())
    with pytest.raises(ValueError, match=r"unknown runtime 'nnom'; known: tflm, tinyengine, xcube-ai \(aliases: "
                                         r"x-cube-ai = xcube-ai\)"):
        get_runtime("nnom")
    with pytest.raises(ValueError, match="runtime name 'x-cube-ai' is already registered \\(by runtime 'xcube-ai'\\)"):
        register_runtime(dataclasses.replace(TOY, aliases=("x-cube-ai",)))
    with pytest.raises(ValueError, match="'tflm' is already registered"):
        register_runtime(get_runtime("tflm"))
    assert "toy-rt" not in list_runtimes() and "toy" not in runtime_names()  # nothing half-registered


def test_toy_runtime_end_to_end(public_db: AtomDB) -> None:
    """One registration (runtime + its lowering + its planner) costs a model through cost_model, the batch
    coster and the search tables; leaving the block restores every registry."""
    before = (list_runtimes(), list_lowerings(), list_planners())
    board = get_board("stm32h743")
    lm = load_latency_model(board, public_db)
    spec = get_zoo("mcunet-in1")
    with scoped_runtime(TOY, lowering=ToyLowering, planner=ToyPlanner):
        rep = cost_model(spec, board, runtime="toy", latency_model=lm)  # by alias
        assert rep.runtime == "toy-rt" and rep.latency_runtime == "xcube-ai"
        g = lower(spec, "toy-rt")
        weighted = [ly.op for ly in g.layers if ly.op.kind in WEIGHTED_KINDS]
        assert rep.flash_breakdown == {"weights": sum(op.weight_params for op in weighted),
                                       "bias": sum(4 * op.bias_params for op in weighted),
                                       "quant": sum(2 * op.c_out for op in weighted), "code": TOY_CODE}
        plan = get_planner("toy-rt").plan(g)
        assert plan.extra_bytes == 0 and rep.peak_sram_bytes == plan.peak_bytes + 2048
        assert rep.sram_breakdown["runtime"] == 2048
        assert plan.peak_bytes == plan_sram(spec, "toy").peak_bytes
        # the lowering is its own: in-place depthwise shares the input's buffer
        dw = next(i for i, ly in enumerate(g.layers) if ly.op.kind == "depthwise" and ly.inplace)
        assert plan.tensor_offsets[g.layers[dw].output] == plan.tensor_offsets[g.layers[dw].inputs[0]]
        # batch costing: the same latency, Flash and MACs as the full report
        out = BatchCoster(board, lm, runtime="toy-rt").cost([spec])
        assert out.latency_ms[0] == pytest.approx(rep.latency_ms)
        assert out.flash_bytes[0] == rep.flash_bytes and out.macs[0] == spec_macs(spec)
        assert out.peak_sram_bytes[0] <= plan.peak_bytes
        # the search tables: built for the toy runtime, its code bytes in the base
        small = dataclasses.replace(get_space("hybrid"), resolutions=(96,))
        tables = build_tables(small, lm, "toy")
        assert tables[0].base[1] == TOY_CODE
        rng = np.random.default_rng(0)
        choices = np.stack([rng.integers(0, t.n_choice, 20) for t in tables[0].stages], axis=1)
        ok = ~np.isnan(tables[0].evaluate(choices)).any(axis=1)
        assert ok.any()
    assert (list_runtimes(), list_lowerings(), list_planners()) == before
    with pytest.raises(ValueError, match="unknown runtime 'toy'"):
        cost_model(spec, board, runtime="toy", latency_model=lm)


def test_toy_runtime_reusing_components(public_db: AtomDB) -> None:
    """A runtime that reuses another's lowering and planner and only differs in Flash: one record."""
    lm = load_latency_model(get_board("stm32h743"), public_db)
    spec = get_zoo("atomnet-256kb")
    base = cost_model(spec, "stm32h743", latency_model=lm)
    rt = dataclasses.replace(get_runtime("xcube-ai"), name="xcube-ai-9", aliases=(), version="9.0",
                             flash=dataclasses.replace(get_runtime("xcube-ai").flash, code_bytes=TOY_CODE))
    with scoped_runtime(rt):
        rep = cost_model(spec, "stm32h743", runtime="xcube-ai-9", latency_model=lm)
    assert rep.flash_bytes == base.flash_bytes - get_runtime("xcube-ai").flash.code_bytes + TOY_CODE
    assert (rep.latency_ms, rep.peak_sram_bytes) == (base.latency_ms, base.peak_sram_bytes)


def test_unknown_runtime_in_provenance_and_board_file(tmp_path: Path) -> None:
    db = AtomDB(tmp_path / "a.sqlite")
    with pytest.raises(ValueError, match="unknown runtime 'nnom'; known: tflm, tinyengine, xcube-ai"), \
            db.transaction():
        db.add_source(board="stm32h743", runtime="nnom", runtime_version="1", clock_mhz=400.0, fmt="csv",
                      path="x.csv", sha256="0" * 64)
    assert db.sources() == []
    bad = tmp_path / "b.toml"
    bad.write_text('name = "b"\ncore = "m7"\nclock_mhz = 1\nsram = "1KB"\nflash = "1KB"\nruntime = "nnom"\n')
    with pytest.raises(ValueError, match="unknown runtime 'nnom'"):
        load_board_file(bad)
    alias = tmp_path / "a.toml"
    alias.write_text('name = "a"\ncore = "m7"\nclock_mhz = 1\nsram = "1KB"\nflash = "1KB"\nruntime = "x-cube-ai"\n')
    assert load_board_file(alias).runtime == "xcube-ai"


def test_existing_database_with_the_old_spelling(tmp_path: Path, shared_dir: Path) -> None:
    """A database whose sources table says "x-cube-ai" (written before the registry) prices as xcube-ai;
    new imports are stored under the canonical name."""
    db = AtomDB(tmp_path / "a.sqlite")
    db.import_atomnet_se_csv(shared_dir / "atomdb/stm32h743/atomdb_se.csv", board="stm32h743", runtime="x-cube-ai")
    raw = db.conn.execute("SELECT runtime FROM sources").fetchall()
    assert raw == [("xcube-ai",)]
    with db.transaction():
        db.conn.execute("UPDATE sources SET runtime='x-cube-ai'")
    assert db.sources("stm32h743")[0]["runtime"] == "xcube-ai"
    assert load_latency_model(get_board("stm32h743"), db).runtime == "xcube-ai"
    with db.transaction():
        db.conn.execute("UPDATE sources SET runtime='nnom'")
    with pytest.raises(ValueError, match="taken with runtime 'nnom', which is not registered"):
        load_latency_model(get_board("stm32h743"), db)


def test_cli_runtime_choices_from_the_registry(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "atomnet", "cost", "atomnet-256kb", "--runtime", "nnom"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "argument --runtime: unknown runtime 'nnom'; known: tflm, tinyengine, xcube-ai" in r.stderr
    r = subprocess.run([sys.executable, "-m", "atomnet", "cost", "atomnet-256kb", "--runtime", "x-cube-ai",
                        "--no-layers"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "(xcube-ai;" in r.stdout
    r = subprocess.run([sys.executable, "-m", "atomnet", "db", "import", "x.csv", "--board", "stm32h743",
                        "--runtime", "nnom"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "unknown runtime 'nnom'" in r.stderr


@pytest.mark.parametrize("name", list_runtimes())
def test_runtime_contract(name: str, public_db: AtomDB) -> None:
    """Every registered runtime: its components exist and agree; a zoo model costs; the search tables equal
    the full model on latency, Flash and MACs; the tables' SRAM is a lower bound of the planner's peak."""
    rt = get_runtime(name)
    assert rt.lowering in list_lowerings() and get_planner(rt.planner).lowering == rt.lowering
    assert rt.version and rt.flash.code_source and rt.flash.code_bytes >= 0 and rt.ram_overhead_bytes >= 0
    lm: LatencyModel = load_latency_model(get_board("stm32h743"), public_db)
    rep = cost_model(get_zoo("atomnet-256kb"), "stm32h743", runtime=name, latency_model=lm)
    assert rep.runtime == name and rep.latency_ms > 0 and rep.flash_bytes > rep.weights_bytes > 0
    space = dataclasses.replace(get_space("hybrid"), resolutions=(128,))
    tables = build_tables(space, lm, name)[0]
    rng = np.random.default_rng(1)
    r, c = space.sample(rng, 8)
    for i in range(len(r)):
        spec = from_stage_config(space.stage_config(int(r[i]), c[i]))
        full = cost_model(spec, "stm32h743", runtime=name, latency_model=lm)
        lat, flash, sram, macs = tables.evaluate(np.asarray(c[i])[None, :])[0]
        assert lat == pytest.approx(full.latency_ms, rel=1e-9)
        assert flash == full.flash_bytes and macs == full.macs
        assert sram <= full.peak_sram_bytes - rt.ram_overhead_bytes


def test_op_kinds_table() -> None:
    """Op keys are what AtomDB stores: kind ids never change; weighted kinds come from the one table."""
    assert [Op.from_key((i, 8, 8, 8, 8, 8, 8, 1, 1, 1)).kind for i in range(9)] == [
        "conv", "pointwise", "depthwise", "pad", "eltwise", "affine", "dense", "se", "pool"]
    assert WEIGHTED_KINDS == {"conv", "pointwise", "depthwise", "dense", "se", "affine"}
    assert Op.pointwise(80, 7, 7, 480).key == (1, 80, 7, 7, 480, 7, 7, 1, 1, 1)
