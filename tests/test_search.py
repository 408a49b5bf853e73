"""Search on the real hybrid space with the public AtomDB: exactness, baselines, journal, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from atomnet.boards import get_board
from atomnet.cli import main
from atomnet.cost import cost_model, load_latency_model
from atomnet.db import AtomDB
from atomnet.search import (
    Limits,
    TableEvaluator,
    build_tables,
    evolution,
    exhaustive,
    get_space,
    random_search,
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
    m = ev.evaluate(r, c)
    for i in range(len(r)):
        rep = cost_model(from_stage_config(space.stage_config(int(r[i]), c[i])), board, latency_model=lm)
        assert m[i, 0] == pytest.approx(rep.latency_ms, rel=1e-9)
        assert m[i, 1] == rep.flash_bytes
        assert m[i, 3] == rep.macs
        assert m[i, 2] <= rep.peak_sram_bytes  # a lower bound of the planner's peak


def test_exhaustive_beats_atomnet_256kb_and_random(hybrid) -> None:  # type: ignore[no-untyped-def]
    space, board, lm, tables = hybrid
    out = run_search(space, board, lm, LIMITS, tables=tables)
    assert out.found and out.evaluated == 57_153_600
    assert out.cost is not None
    assert out.cost.latency_ms <= 275 and out.cost.flash_bytes <= 1024 * 1024
    assert out.cost.peak_sram_bytes <= 256 * 1024
    ref = cost_model(get_zoo("atomnet-256kb"), board, latency_model=lm)
    assert out.cost.macs >= ref.macs
    ev = TableEvaluator(space, tables)
    rnd = random_search(ev, LIMITS, np.random.default_rng(0), samples=1_000_000)
    assert rnd.fitness is not None
    ex = exhaustive(ev, LIMITS)
    assert ex.fitness is not None and ex.fitness >= rnd.fitness
    assert out.cost.macs >= rnd.fitness or out.confirmed_after > 1


def test_evolution_within_one_percent(hybrid) -> None:  # type: ignore[no-untyped-def]
    space, _board, _lm, tables = hybrid
    ev = TableEvaluator(space, tables)
    ex = exhaustive(ev, LIMITS)
    evo = evolution(ev, LIMITS, np.random.default_rng(0), cycles=20_000)
    assert ex.fitness is not None and evo.fitness is not None
    assert evo.fitness >= 0.99 * ex.fitness


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
