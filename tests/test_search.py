"""Search on the real hybrid space with the public AtomDB: exactness, baselines, journal, CLI."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from atomnet.boards import get_board
from atomnet.cli import main
from atomnet.cost import cost_model, load_latency_model
from atomnet.db import AtomDB
from atomnet.search import (
    Evolution,
    Exhaustive,
    Limits,
    RandomSearch,
    TableEvaluator,
    build_tables,
    get_space,
    run_search,
)
from atomnet.spec import from_stage_config
from atomnet.zoo import get_zoo

LIMITS = Limits(latency_ms=275.0, flash_bytes=1024 * 1024, peak_sram_bytes=256 * 1024)


@pytest.fixture(scope="module")
def hybrid(public_db_path: Path):  # type: ignore[no-untyped-def]
    db = AtomDB(public_db_path)
    board = get_board("stm32h743")
    lm = load_latency_model(board, db)
    space = get_space("hybrid")
    return space, board, lm, build_tables(space, lm, "xcube-ai")


def test_tables_match_full_cost_model(hybrid) -> None:  # type: ignore[no-untyped-def]
    space, board, lm, tables = hybrid
    ev = TableEvaluator(space, tables)
    rng = np.random.default_rng(3)
    r, c = space.sample(rng, 40)
    m = ev.metrics(r, c)
    for i in range(len(r)):
        rep = cost_model(from_stage_config(space.stage_config(int(r[i]), c[i])), board, latency_model=lm)
        assert m.latency_ms[i] == pytest.approx(rep.latency_ms, rel=1e-9)
        assert m.flash_bytes[i] == rep.flash_bytes
        assert m.macs[i] == rep.macs
        assert m.peak_sram_bytes[i] <= rep.peak_sram_bytes  # a lower bound of the planner's peak


def test_exhaustive_beats_atomnet_256kb_and_random(hybrid) -> None:  # type: ignore[no-untyped-def]
    space, board, lm, tables = hybrid
    out = run_search(space, board, lm, LIMITS, tables=tables)
    assert out.found and out.evaluated == 57_153_600
    assert out.cost is not None
    # the winner's figures (public AtomDB, X-CUBE-AI 7.x memory model fitted on the ST model zoo rows):
    # 103.36 M MACs, 274.2 ms, 209 KB peak SRAM (194,726 B pool + 19,676 B runtime RAM), 994.4 KB Flash
    assert out.cost.macs == 103_356_768 and out.cost.latency_ms == pytest.approx(274.1810, abs=1e-4)
    assert out.cost.peak_sram_bytes <= 256 * 1024 and round(out.cost.peak_sram_bytes / 1024) == 209
    sb = out.cost.sram_breakdown
    assert (sb["activations"], sb["scratch"], sb["runtime"]) == (194_726, 0, 19_676)
    assert out.cost.flash_bytes <= 1024 * 1024 and round(out.cost.flash_bytes / 1024, 1) == 994.4
    ref = cost_model(get_zoo("atomnet-256kb"), board, latency_model=lm)
    assert out.cost.macs >= ref.macs
    ev = TableEvaluator(space, tables, LIMITS)
    rnd = RandomSearch(seed=0, samples=1_000_000).run(ev)
    ex = Exhaustive().run(ev)
    assert rnd.best is not None and ex.best is not None
    # the table optimum is the confirmed winner (the first candidate, no SRAM recheck needed), and a million
    # random samples (seed 0) stay 3.6 % below it
    assert ex.best.fitness == out.cost.macs == 103_356_768 and out.confirmed_after == 1
    assert rnd.best.fitness == 99_678_864


def test_evolution_within_one_percent(hybrid) -> None:  # type: ignore[no-untyped-def]
    space, _board, _lm, tables = hybrid
    ev = TableEvaluator(space, tables, LIMITS)
    ex = Exhaustive().run(ev)
    evo = Evolution(seed=0, cycles=20_000).run(ev)
    assert ex.best is not None and evo.best is not None
    assert evo.best.fitness >= 0.99 * ex.best.fitness
    assert evo.best.fitness == 103_356_768  # pinned: seed 0 gives this run (the strategy owns its generator)


def test_cli_search_out_file_recosts_identically(public_db_path: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "best.json"
    assert main(["--db", str(public_db_path), "search", "--board", "stm32h743", "--sram", "256KB", "--flash", "1MB",
                 "--latency", "275ms", "--space", "hybrid", "--strategy", "exhaustive", "--json", "--out",
                 str(out), "--no-progress"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("spec", "cost", "evaluated", "feasible", "seconds"):
        assert key in d
    assert main(["--db", str(public_db_path), "cost", str(out), "--board", "stm32h743", "--json"]) == 0
    c = json.loads(capsys.readouterr().out)
    for key in ("macs", "latency_ms", "flash_bytes", "peak_sram_bytes", "params"):
        assert c[key] == d["cost"][key]


def test_cli_infeasible_reports_minima(public_db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(public_db_path), "search", "--sram", "8KB", "--flash", "1MB", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "no architecture of the space meets the limits" in err and "peak SRAM" in err


def test_killed_evolution_resumes_identically(public_db_path: Path, tmp_path: Path) -> None:
    env = {**os.environ, "ATOMNET_DB": str(public_db_path)}
    base = [sys.executable, "-m", "atomnet", "search", "--strategy", "evolution", "--cycles", "6000", "--seed", "5",
            "--sram", "256KB", "--flash", "1MB", "--latency", "275ms", "--json", "--no-progress"]
    ref = subprocess.run(base, env=env, capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr
    journal = tmp_path / "evo.jsonl"
    p = subprocess.Popen([*base, "--journal", str(journal)], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600  # a safety net only: the run stops by itself after 6,000 evaluations
    while time.monotonic() < deadline and p.poll() is None:  # kill once the search is under way
        if journal.exists() and len(journal.read_bytes().splitlines()) > 1502:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    # Cut the journal to the same point whatever the machine's speed (the run may even have finished before
    # the kill): the header, 1,500 evaluations and half of the next line, as a kill mid-write leaves it.
    lines_b = journal.read_bytes().splitlines(keepends=True)
    assert len(lines_b) > 1502
    journal.write_bytes(b"".join(lines_b[:1501]) + lines_b[1501][: len(lines_b[1501]) // 2])
    resumed = subprocess.run([*base, "--journal", str(journal)], env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    a, b = json.loads(ref.stdout), json.loads(resumed.stdout)
    assert a["stage_config"] == b["stage_config"] and a["cost"]["macs"] == b["cost"]["macs"]
    lines = journal.read_text().splitlines()
    assert len(lines) == 6001  # header + each evaluation exactly once
    assert [json.loads(x)["i"] for x in lines[1:]] == list(range(6000))


TINY = {"name": "tiny", "resolutions": [96, 128], "stages": [
    {"stride": 2, "act": "relu", "block": "conv", "widths": [8, 16]},
    {"stride": 2, "act": "hswish", "block": "sep", "widths": [16, 32], "depths": [1, 2]},
    {"stride": 2, "act": "hswish", "blocks": ["sep", "convnext"], "widths": [32, 64], "expands": [1, 3], "se": True}]}


def test_pareto_with_zoo_references_in_the_library() -> None:
    """run_search(pareto=True) gives the exact front and the zoo's ImageNet models costed beside it (the CLI only
    draws them): no visual-wake-words model, whose 2 classes are another task."""
    import dataclasses

    from atomnet.search import space_from_dict
    from atomnet.zoo import list_zoo

    board = get_board("stm32h743")
    lm = load_latency_model(board, None)
    space = space_from_dict(TINY)
    lim = Limits(flash_bytes=1024 * 1024, peak_sram_bytes=64 * 1024)
    out = run_search(space, board, lm, lim, pareto=True)
    assert out.found and out.pareto is not None and out.cost is not None
    front = out.pareto.front
    assert len(front) == 22 and [p.latency_ms for p in front] == sorted(p.latency_ms for p in front)
    assert all(a.macs < b.macs for a, b in itertools.pairwise(front))
    assert front[-1].macs == out.cost.macs  # no latency limit: the winner ends the front
    names = [r.name for r in out.pareto.references]
    assert names == [n for n in list_zoo() if "vww" not in n] and len(names) == 15
    ref = {r.name: r for r in out.pareto.references}["mcunet-in1"]
    rep = cost_model(get_zoo("mcunet-in1"), board, latency_model=lm)
    assert (ref.latency_ms, ref.macs) == (rep.latency_ms, rep.macs)
    assert ref.fits == (rep.peak_sram_bytes <= 64 * 1024)
    d: dict[str, Any] = out.to_dict()
    assert len(d["pareto"]) == 22 and d["pareto"][-1]["stage_config"] == out.stage_config
    assert d["seed"] is None and d["strategy"] == "exhaustive"  # exhaustive uses no randomness
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.seconds = 0.0  # type: ignore[misc]


def test_cli_strategy_choices_come_from_the_registry() -> None:
    import argparse

    from atomnet.cli import build_parser
    from atomnet.search import get_strategy, list_strategies

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    search = sub.choices["search"]
    opts = {a.dest: a for a in search._actions}
    assert tuple(opts["strategy"].choices) == tuple(list_strategies())
    flagged = {n for s in list_strategies() for n, o in get_strategy(s).options_spec.items() if o.cli}
    assert flagged == {"cycles", "population", "samples"} and flagged <= set(opts)
