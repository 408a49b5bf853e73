"""Search hardening (issue 10): journal provenance, validated strategy options, exit 1 when nothing fits,
``--num-classes``. The CLI runs in a subprocess wherever the behaviour is an exit status or a message."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from atomnet.boards import get_board
from atomnet.cli import main
from atomnet.cost import load_latency_model
from atomnet.db import AtomDB
from atomnet.search import (
    Evolution,
    Exhaustive,
    Journal,
    JournaledEvaluator,
    JournalMismatch,
    Limits,
    RandomSearch,
    ResolutionTables,
    StageTable,
    TableEvaluator,
    build_tables,
    get_space,
    get_strategy,
    latency_source,
    run_search,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
EVO = ["search", "--strategy", "evolution", "--cycles", "400", "--population", "50", "--seed", "3",
       "--sram", "256KB", "--flash", "1MB", "--latency", "275ms", "--json", "--no-progress"]


def _env(tmp: Path, db: Path | None) -> dict[str, str]:
    """Environment of a subprocess: ``db`` as $ATOMNET_DB, or none at all (fresh install: embedded predictors)."""
    env = {k: v for k, v in os.environ.items() if k != "ATOMNET_DB"}
    env["XDG_DATA_HOME"] = str(tmp / "xdg")  # no default database either
    if db is not None:
        env["ATOMNET_DB"] = str(db)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atomnet", *args], env=env, capture_output=True, text=True,
                          timeout=600)


def _one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(lines) == 1 and lines[0].startswith("atomnet: error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def other_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second database for the same board with other numbers: the main CSV only, no SE measurements."""
    path = tmp_path_factory.mktemp("other") / "other.sqlite"
    with AtomDB(path) as db:
        db.import_atomnet_csv(SHARED / "atomdb/stm32h743/atomdb.csv", board="stm32h743")
    return path


# ---- journal provenance through the CLI ----------------------------------------------------------
def test_journal_refuses_another_latency_source(public_db_path: Path, other_db: Path, tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    first = _run([*EVO, "--journal", str(journal)], _env(tmp_path, public_db_path))
    assert first.returncode == 0, first.stderr
    lines = journal.read_text().splitlines()
    assert len(lines) == 401
    head = json.loads(lines[0])["header"]
    assert head["latency_source"]["kind"] == "db" and head["latency_source"]["path"] == str(public_db_path)
    assert len(head["latency_source"]["fingerprint"]) == 64
    assert head["space"]["name"] == "hybrid" and head["num_classes"] == 1000 and head["runtime"] == "xcube-ai"
    assert head["options"]["cycles"] == 400 and head["options"]["population"] == 50 and head["seed"] == 3
    assert head["limits"]["peak_sram_bytes"] == 256 * 1024 and head["limits"]["latency_ms"] == 275.0
    fp = head["latency_source"]["fingerprint"][:12]

    # the embedded predictors instead of the database
    msg = _one_error_line(_run([*EVO, "--journal", str(journal)], _env(tmp_path, None)))
    assert f"journal {journal} was written with latency source db:{fp}… ({public_db_path})" in msg
    assert "this run uses latency source embedded:" in msg and "embedded predictors for stm32h743" in msg
    assert msg.endswith("use a new journal or the same database")

    # a second database with other numbers
    msg = _one_error_line(_run([*EVO, "--journal", str(journal)], _env(tmp_path, other_db)))
    assert f"written with latency source db:{fp}… ({public_db_path})" in msg
    assert re.search(rf"this run uses latency source db:[0-9a-f]{{12}}… \({re.escape(str(other_db))}\)", msg)
    assert "db:" + fp not in msg.split("this run uses")[1]

    # other limits or another classifier size are refused too, naming what changed
    msg = _one_error_line(_run([*EVO, "--journal", str(journal), "--sram", "320KB"], _env(tmp_path, public_db_path)))
    assert "written with limits peak_sram_bytes=262144; this run uses limits peak_sram_bytes=327680" in msg
    msg = _one_error_line(_run([*EVO, "--journal", str(journal), "--num-classes", "10"],
                               _env(tmp_path, public_db_path)))
    assert "num classes 1000; this run uses num classes 10" in msg
    assert journal.read_text().splitlines() == lines  # nothing appended by the refused runs

    # the same content under another path resumes (the path is shown, not compared); blank lines are skipped
    copy = tmp_path / "copy.sqlite"
    shutil.copy(public_db_path, copy)
    with open(journal, "a") as f:
        f.write("\n\n")
    again = _run([*EVO, "--journal", str(journal)], _env(tmp_path, copy))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["stage_config"] == json.loads(first.stdout)["stage_config"]
    assert [ln for ln in journal.read_text().splitlines() if ln] == lines


def test_journal_refuses_in_the_library(public_db_path: Path, tmp_path: Path) -> None:
    board, space = get_board("stm32h743"), get_space("hybrid")
    db = AtomDB(public_db_path)
    lm_db, lm_emb = load_latency_model(board, db), load_latency_model(board, None)
    src_db, src_emb = latency_source(lm_db, str(public_db_path)), latency_source(lm_emb)
    assert src_db["kind"] == "db" and src_emb["kind"] == "embedded"
    assert src_db["fingerprint"] != src_emb["fingerprint"]
    assert latency_source(load_latency_model(board, db))["fingerprint"] == src_db["fingerprint"]  # deterministic
    lim = Limits(275.0, 1024 * 1024, 256 * 1024)
    j = tmp_path / "lib.jsonl"
    out = run_search(space, board, lm_db, lim, strategy="evolution", seed=1, cycles=300, population=30, journal=j,
                     db_path=str(public_db_path))
    assert out.found and len(j.read_text().splitlines()) == 301
    with pytest.raises(JournalMismatch, match=r"written with latency source db:.*this run uses latency source "
                                              r"embedded:.*use a new journal or the same database"):
        run_search(space, board, lm_emb, lim, strategy="evolution", seed=1, cycles=300, population=30, journal=j)
    with pytest.raises(JournalMismatch, match="strategy options cycles=300; this run uses strategy options "
                                              "cycles=301"):
        run_search(space, board, lm_db, lim, strategy="evolution", seed=1, cycles=301, population=30, journal=j)
    again = run_search(space, board, lm_db, lim, strategy="evolution", seed=1, cycles=300, population=30, journal=j)
    assert again.stage_config == out.stage_config and len(j.read_text().splitlines()) == 301
    db.close()


# ---- journal file robustness ---------------------------------------------------------------------
def _entry(i: int) -> dict[str, Any]:
    return {"i": i, "res": 0, "choices": [0], "metrics": [1.0, 1.0, 1.0, 1.0], "feasible": True, "fitness": 1.0,
            "score": 1.0}


def _write(path: Path, header: dict[str, Any], *lines: str) -> None:
    path.write_text("\n".join([json.dumps({"header": header}), *lines]) + "\n")


def test_journal_blank_lines_and_bad_lines(tmp_path: Path) -> None:
    h = {"strategy": "evolution", "seed": 1}
    p = tmp_path / "j.jsonl"
    _write(p, h, json.dumps(_entry(0)), "", "   ", json.dumps(_entry(1)), "")
    j = Journal(p, h)
    assert [e["i"] for e in j.entries] == [0, 1]
    j.close()
    for bad, line, what in (("null", 3, "got 'null'"), ("{}", 3, "missing choices, feasible"),
                            ("[1, 2]", 3, "got '[1, 2]'"), ("{\"i\": 1", 3, "not JSON")):
        _write(p, h, json.dumps(_entry(0)), bad)
        with pytest.raises(JournalMismatch, match=rf"^{re.escape(str(p))}:{line}: .*{re.escape(what)}"):
            Journal(p, h)
    _write(p, h, json.dumps(_entry(0)), json.dumps(_entry(2)))
    with pytest.raises(JournalMismatch, match=rf"{re.escape(str(p))}:3: evaluation number 2, expected 1"):
        Journal(p, h)
    p.write_text("\nnull\n")
    with pytest.raises(JournalMismatch, match=rf"^{re.escape(str(p))}:2: not an atomnet search journal"):
        Journal(p, h)
    p.write_text("{}\n")
    with pytest.raises(JournalMismatch, match=rf"^{re.escape(str(p))}:1: not an atomnet search journal"):
        Journal(p, h)
    p.write_text('{"header": {"stra')  # killed while writing the header: start anew
    j = Journal(p, h)
    j.append(_entry(0))
    j.close()
    assert Journal(p, h).entries == [_entry(0)]


def test_journal_bad_line_through_cli(public_db_path: Path, tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    assert _run([*EVO, "--cycles", "60", "--journal", str(journal)], _env(tmp_path, public_db_path)).returncode == 0
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join([*lines[:5], "null", *lines[5:]]) + "\n")
    msg = _one_error_line(_run([*EVO, "--cycles", "60", "--journal", str(journal)], _env(tmp_path, public_db_path)))
    assert msg.startswith(f"atomnet: error: {journal}:6: not an evaluation")


# ---- strategy options: library ---------------------------------------------------------------------
def _tiny_evaluator() -> TableEvaluator:
    space = get_space("hybrid")
    rng = np.random.default_rng(0)
    tabs = []
    for res in space.resolutions:
        stages, n_in = [], 1
        for s in space.stages:
            cost = rng.uniform(1, 10, (n_in, len(s.choices), 4))
            stages.append(StageTable(cost, np.array([s.widths.index(c.width) for c in s.choices])))
            n_in = len(s.widths)
        tabs.append(ResolutionTables(res, tuple(stages), np.zeros(4)))
    return TableEvaluator(space, tabs)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Evolution(cycles=0), "cycles: expected a positive integer, got 0"),
    (lambda: Evolution(cycles=-5), "cycles: expected a positive"),
    (lambda: Evolution(cycles=2.5), "cycles: expected a positive integer, got 2.5"),
    (lambda: Evolution(population=0), "population: expected a positive"),
    (lambda: Evolution(cycles=10, population=20), "population 20 exceeds cycles 10"),
    (lambda: Evolution(penalty=float("nan")), "penalty: expected a finite number >= 0, got nan"),
    (lambda: Evolution(local_moves=1.5), "local_moves: expected a probability from 0 to 1, got 1.5"),
    (lambda: Evolution(extra_mutation=True), "extra_mutation: expected a probability"),
    (lambda: Evolution(samples=5), r"samples does not apply to strategy 'evolution' \(its options: cycles, "),
    (lambda: Evolution(seed=-1), "seed: expected an integer >= 0, got -1"),
    (lambda: Evolution(seed=True), "seed: expected an integer >= 0, got True"),
    (lambda: RandomSearch(samples=0), "samples: expected a positive"),
    (lambda: RandomSearch(cycles=5), "cycles does not apply to strategy 'random'"),
    (lambda: Exhaustive(top_k=0), "top_k: expected a positive integer"),
    (lambda: Exhaustive(seed=0), "seed does not apply to strategy 'exhaustive'"),
])
def test_strategies_validate_their_options(make: Any, message: str) -> None:
    """In the constructor: nothing runs with an option that is unknown, inapplicable or out of range."""
    with pytest.raises(ValueError, match=message):
        make()


def test_run_search_refuses_inapplicable_options() -> None:
    space, board = get_space("hybrid"), get_board("stm32h743")
    none: Any = None  # never reached: options are checked before anything is priced
    with pytest.raises(ValueError, match="cycles does not apply to strategy 'exhaustive'"):
        run_search(space, board, none, Limits(), strategy="exhaustive", cycles=5)
    with pytest.raises(ValueError, match="samples does not apply to strategy 'evolution'"):
        run_search(space, board, none, Limits(), strategy="evolution", samples=5)
    with pytest.raises(ValueError, match="takes no custom fitness"):
        run_search(space, board, none, Limits(), strategy="exhaustive", fitness=lambda cfg: 1.0)
    with pytest.raises(ValueError, match=r"strategy 'random' does not keep a journal \(resumable strategies: "
                                         r"evolution\)"):
        run_search(space, board, none, Limits(), strategy="random", journal="x.jsonl")
    with pytest.raises(ValueError, match="seed does not apply to strategy 'exhaustive'"):
        run_search(space, board, none, Limits(), strategy="exhaustive", seed=0)
    with pytest.raises(ValueError, match="seed: expected an integer >= 0"):
        run_search(space, board, none, Limits(), strategy="random", seed=-1)
    with pytest.raises(KeyError, match="unknown search strategy 'annealing'"):
        run_search(space, board, none, Limits(), strategy="annealing")
    evo = get_strategy("evolution")
    assert evo.check_options({"cycles": 500})["population"] == 100 and evo.check_options({})["cycles"] == 20_000
    with pytest.raises(ValueError, match="population 100 exceeds cycles 50"):
        evo.check_options({"cycles": 50})
    with pytest.raises(ValueError, match="--population 100 exceeds --cycles 50"):
        evo.check_options({"cycles": 50}, lambda n: "--" + n)


def test_limits_validate() -> None:
    for kw, msg in (({"latency_ms": float("nan")}, "latency_ms must be a number >= 0"),
                    ({"peak_sram_bytes": -1}, "peak_sram_bytes must be a number >= 0"),
                    ({"min_macs": float("inf")}, "min_macs must be finite"),
                    ({"min_macs": 5e6, "max_macs": 1e6}, "max_macs 1e\\+06 is below min_macs 5e\\+06")):
        with pytest.raises(ValueError, match=msg):
            Limits(**kw)
    assert Limits(min_macs=50e6).to_dict() == {"latency_ms": None, "flash_bytes": None, "peak_sram_bytes": None,
                                               "min_macs": 50e6, "max_macs": None}


# ---- CLI: one-line errors, exit 1 when nothing fits ---------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["--strategy", "evolution", "--population", "0"], "--population: expected a positive integer, got '0'"),
    (["--strategy", "evolution", "--cycles", "0"], "--cycles: expected a positive integer, got '0'"),
    (["--strategy", "evolution", "--cycles", "-5"], "--cycles: expected a positive integer, got '-5'"),
    (["--strategy", "random", "--samples", "0"], "--samples: expected a positive integer, got '0'"),
    (["--strategy", "evolution", "--cycles", "50", "--population", "100"], "--population 100 exceeds --cycles 50"),
    (["--cycles", "100"], "--cycles applies to --strategy evolution, not exhaustive"),
    (["--strategy", "evolution", "--samples", "10"], "--samples applies to --strategy random, not evolution"),
    (["--strategy", "random", "--population", "10"], "--population applies to --strategy evolution, not random"),
    (["--journal", "j.jsonl"], "--journal applies to --strategy evolution, not exhaustive"),
    (["--strategy", "random", "--journal", "j.jsonl"], "--journal applies to --strategy evolution, not random"),
    (["--seed", "1"], "--seed does not apply to --strategy exhaustive"),
    (["--strategy", "random", "--seed", "-1"], "--seed: expected an integer >= 0, got '-1'"),
    (["--min-macs", "nan"], "--min-macs: expected a number of MACs >= 0 such as 50e6 or 50M, got 'nan'"),
    (["--min-macs", "-1"], "--min-macs: expected a number of MACs >= 0 such as 50e6 or 50M, got '-1'"),
    (["--min-macs", "inf"], "--min-macs: expected a number of MACs >= 0 such as 50e6 or 50M, got 'inf'"),
    (["--max-macs", "nan"], "--max-macs: expected a number of MACs"),
    (["--min-macs", "50M", "--max-macs", "10e6"], "--max-macs 10e6: must be greater than --min-macs 50M"),
    (["--num-classes", "0"], "--num-classes: expected a positive integer, got '0'"),
    (["--num-classes", "ten"], "--num-classes: expected a positive integer, got 'ten'"),
    (["--plot", "f.png"], "--plot draws the Pareto front: add --pareto"),
    (["--latency=-5ms"], "--latency"),
    (["--latency", "0ms"], "--latency"),
])
def test_cli_option_errors(args: list[str], message: str, tmp_path: Path) -> None:
    msg = _one_error_line(_run(["search", "--no-progress", *args], _env(tmp_path, None)))
    assert message in msg


def test_cli_help_documents_exit_status() -> None:
    r = subprocess.run([sys.executable, "-m", "atomnet", "search", "--help"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "exit status: 0 found, 1 nothing fits the limits, 2 usage/input error" in text
    assert "--num-classes" in text and "a plain number is ms" in text


def test_cli_nothing_fits_exits_1_naming_the_limit(public_db_path: Path, tmp_path: Path) -> None:
    env = _env(tmp_path, public_db_path)
    r = _run(["search", "--sram", "8KB", "--flash", "1MB", "--no-progress", "--out", str(tmp_path / "b.json")], env)
    assert r.returncode == 1, r.stderr
    assert "atomnet: nothing fits: no architecture of the space meets the limits; peak SRAM: the smallest " \
           "architecture needs 16 KB, over the 8 KB limit" in r.stderr
    assert "No spec written" in r.stderr and not (tmp_path / "b.json").exists()
    r = _run(["search", "--sram", "256KB", "--flash", "1MB", "--min-macs", "5G", "--json", "--no-progress"], env)
    assert r.returncode == 1, r.stderr
    d = json.loads(r.stdout)
    assert not d["found"] and "under --min-macs 5000 M" in d["reason"] and "under --min-macs" in r.stderr
    assert d["limits"]["min_macs"] == 5e9
    # each limit alone can be met, not all together
    r = _run(["search", "--latency", "10ms", "--min-macs", "50M", "--no-progress"], env)
    assert r.returncode == 1, r.stderr
    assert "each limit alone can be met, but not all together" in r.stderr


def test_cli_macs_bounds_accept_suffixes(public_db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--db", str(public_db_path), "search", "--sram", "256KB", "--flash", "1MB", "--latency", "275ms",
            "--json", "--no-progress"]
    assert main([*base, "--max-macs", "50M"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert a["limits"]["max_macs"] == 50e6 and 0 < a["cost"]["macs"] <= 50e6
    assert main([*base, "--max-macs", "50e6"]) == 0
    assert json.loads(capsys.readouterr().out)["cost"] == a["cost"]


# ---- --num-classes ------------------------------------------------------------------------------------
def test_cli_num_classes_10_recosts_identically(public_db_path: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "best10.json"
    assert main(["--db", str(public_db_path), "search", "--board", "stm32h743", "--sram", "256KB", "--flash", "1MB",
                 "--latency", "275ms", "--num-classes", "10", "--json", "--out", str(out), "--no-progress"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["num_classes"] == 10 and d["spec"]["num_classes"] == 10 and d["stage_config"]["num_classes"] == 10
    assert json.loads(out.read_text())["num_classes"] == 10
    assert main(["--db", str(public_db_path), "cost", str(out), "--board", "stm32h743", "--json"]) == 0
    c = json.loads(capsys.readouterr().out)
    for key in ("macs", "latency_ms", "flash_bytes", "peak_sram_bytes", "params"):
        assert c[key] == d["cost"][key], key
    assert c["latency_ms"] <= 275 and c["flash_bytes"] <= 1024 * 1024 and c["peak_sram_bytes"] <= 256 * 1024


def test_num_classes_changes_the_head_cost(public_db_path: Path) -> None:
    """The classifier is folded into the last stage's table: Flash and MACs of the head scale with N."""
    import dataclasses

    board = get_board("stm32h743")
    db = AtomDB(public_db_path)
    lm = load_latency_model(board, db)
    space = get_space("hybrid")
    small = dataclasses.replace(space, num_classes=10)
    t1000 = build_tables(dataclasses.replace(space, resolutions=(128,)), lm, "xcube-ai")[0]
    t10 = build_tables(dataclasses.replace(small, resolutions=(128,)), lm, "xcube-ai")[0]
    for a, b in zip(t1000.stages[:-1], t10.stages[:-1], strict=True):
        np.testing.assert_array_equal(a.cost, b.cost)  # only the last stage holds the head
    last_w = np.array([c.width for c in space.stages[-1].choices], dtype=float)
    # the dense head: c_last × N weights, so MACs differ by c_last × 990 for every (input, choice)
    np.testing.assert_allclose(t1000.stages[-1].cost[..., 3] - t10.stages[-1].cost[..., 3],
                               np.broadcast_to(last_w * 990, t10.stages[-1].cost[..., 3].shape))
    assert (t1000.stages[-1].cost[..., 1] > t10.stages[-1].cost[..., 1]).all()  # Flash
    assert (t1000.stages[-1].cost[..., 0] > t10.stages[-1].cost[..., 0]).all()  # latency
    db.close()


def test_journal_replay_divergence_is_named(tmp_path: Path) -> None:
    ev = _tiny_evaluator()
    p = tmp_path / "evo.jsonl"
    with Journal(p, {"seed": 4}) as j:
        Evolution(seed=4, cycles=60, population=20).run(JournaledEvaluator(ev, j))
    lines = p.read_text().splitlines()
    e = json.loads(lines[8])
    e["res"] = (e["res"] + 1) % len(ev.space.resolutions)
    lines[8] = json.dumps(e)
    p.write_text("\n".join(lines) + "\n")
    with Journal(p, {"seed": 4}) as j, pytest.raises(ValueError, match=rf"journal {re.escape(str(p))}: evaluation 7 "
                                                                      r"was architecture .* use a new journal"):
        Evolution(seed=4, cycles=60, population=20).run(JournaledEvaluator(ev, j))


def test_space_file_num_classes_validated() -> None:
    from atomnet.search import space_from_dict

    stem = [{"stride": 2, "act": "relu", "block": "conv", "widths": [8]}]
    for bad in (0, -3, 10**6, "10", True):
        with pytest.raises(ValueError, match="num_classes: expected an integer from 1 to 65536"):
            space_from_dict({"name": "x", "num_classes": bad, "stages": stem})
    assert space_from_dict({"name": "x", "num_classes": 10, "stages": stem}).num_classes == 10
