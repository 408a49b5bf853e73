"""``atomnet demo`` on a fresh install (no database): one consistent line says where latency comes from, the
search's budget is drawn on the plots; with an AtomDB the same line counts the exact medians."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atomnet.boards import get_board
from atomnet.cli._demo import latency_source
from atomnet.cost import cost_model, load_latency_model
from atomnet.db import AtomDB
from atomnet.zoo import get_zoo


@pytest.mark.slow  # > 20 s on 2 shared cores (pytest --durations)
def test_demo_without_database_says_where_latency_comes_from(tmp_path: Path) -> None:
    # a new user: no $ATOMNET_DB, an empty data directory
    env = {**{k: v for k, v in os.environ.items() if k != "ATOMNET_DB"}, "XDG_DATA_HOME": str(tmp_path / "data"),
           "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "atomnet", "demo", "--out", str(tmp_path / "demo")],
                       capture_output=True, text=True, timeout=900, check=False, env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    lat = [ln for ln in lines if ln.lstrip().startswith("latency ")]
    assert len(lat) == 2
    assert lat[0].endswith(": 69 of 69 operators predicted by the embedded STM32H743 predictors (fitted on the "
                           "public AtomDB; no database given)")
    assert lat[1].endswith("operators predicted by the embedded STM32H743 predictors (fitted on the public "
                           "AtomDB; no database given)")
    n = lat[1].split(": ")[1].split(" of ")[0]
    assert lat[1].split(": ")[1].startswith(f"{n} of {n} operators")
    # nothing else claims a source: no "latency from xcube-ai measurements", no "0 ops exact"
    assert "measurements" not in r.stdout and "ops exact" not in r.stdout and "embedded default" not in r.stdout
    assert "model atomnet-256kb on stm32h743 (xcube-ai)" in lines
    spec = json.loads((tmp_path / "demo" / "best.json").read_text())
    assert spec["num_classes"] == 1000
    assert "found 104.8 M MACs vs atomnet-256kb 78.8 M (+33 %)" in r.stdout
    for png in ("atomnet-256kb.png", "best.png"):
        assert (tmp_path / "demo" / png).stat().st_size > 10_000


def test_latency_line_with_an_atomdb(public_db_path: Path) -> None:
    board = get_board("stm32h743")
    with AtomDB(public_db_path) as db:
        lm = load_latency_model(board, db)
        rep = cost_model(get_zoo("atomnet-256kb"), board, latency_model=lm)
        assert latency_source(rep, lm, db) == (
            f"68 of 69 operators exact medians from {db.path}, 1 predicted by the embedded STM32H743 predictors "
            "(fitted on the public AtomDB)")
    bare = load_latency_model(board)
    rep = cost_model(get_zoo("atomnet-256kb"), board, latency_model=bare)
    assert latency_source(rep, bare, None) == ("69 of 69 operators predicted by the embedded STM32H743 predictors "
                                               "(fitted on the public AtomDB; no database given)")
