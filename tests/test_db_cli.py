"""The `atomnet db` commands end to end, and the embedded default predictors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from atomnet.cli import main
from atomnet.cost import embedded_predictors
from atomnet.db import AtomDB, fit_predictors
from atomnet.db._predict import samples_hash
from atomnet.ops import KINDS


def _samples(db: AtomDB) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for kind in KINDS:
        s = db.samples("stm32h743", kind)
        if len(s["latency_ms"]):
            out[kind] = s
    return out


def test_embedded_predictors_are_current(public_db: AtomDB) -> None:
    """The shipped JSON was fitted from the public data by this code: same samples, same predictions."""
    emb = embedded_predictors("stm32h743")
    assert emb is not None
    samples = _samples(public_db)
    assert emb.provenance["samples_sha256"] == samples_hash(samples)
    cv: Any = emb.provenance["cross_validation"]
    assert cv["scheme"] == "channels" and cv["kinds"]["pointwise"]["mape"] <= 7.0
    fresh = fit_predictors(samples, board="stm32h743")
    for kind, s in samples.items():
        np.testing.assert_allclose(emb.predict(kind, s), fresh.predict(kind, s), rtol=1e-9,
                                   err_msg=f"regenerate src/atomnet/data/predictors/stm32h743.json ({kind})")


def test_query_reports_median_count_and_spread(public_db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(public_db_path), "db", "query", "pointwise", "--c-in", "80", "--h-in", "7",
                 "--c-out", "480"]) == 0
    out = capsys.readouterr().out
    assert "4.496 ms" in out and "55 measurements" in out and "4.458–7.016 ms" in out
    assert main(["--db", str(public_db_path), "db", "query", "pointwise", "--c-in", "80", "--h-in", "7",
                 "--c-out", "480", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["source"] == "exact" and d["n"] == 55 and d["latency_ms"] == 4.496 and len(d["repeats_ms"]) == 55
    # a key nobody measured: predicted, and said so
    assert main(["--db", str(public_db_path), "db", "query", "pointwise", "--c-in", "81", "--h-in", "7",
                 "--c-out", "480", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["source"] == "predicted" and 3.0 < d["latency_ms"] < 7.5


def test_stats_and_fit_json(public_db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(public_db_path), "db", "stats", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)["boards"]["stm32h743"]["kinds"]
    assert st["pointwise"]["rows"] == 21785 and st["pointwise"]["keys"] == 6489
    db = tmp_path / "fit.sqlite"
    assert main(["--db", str(db), "db", "import", str(Path(__file__).resolve().parents[2] /
                                                       "shared/atomdb/stm32h743/atomdb_se.csv"),
                 "--board", "stm32h743"]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "db", "fit", "--board", "stm32h743", "--cv", "channels", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d["kinds"]) == {"se"} and d["kinds"]["se"]["keys"] == 534
    assert set(d["kinds"]["se"]) >= {"mape", "median_ape", "max_ape", "keys"}
    assert d["kinds"]["se"]["mape"] <= 2.0


def test_import_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("type,conv_type,groups,c_in,h_in,w_in,k1,k2,c_out,h_out,w_out,MACs,Flash,latency,MACs/latency\n"
                   "pad,,,80,5,5,,,80,7,7,0,0,0.006,\n"
                   "conv2d,PointWise,1,80,3,3,1,1,480,3,3,346080,40320,slow,265195\n")
    db = tmp_path / "x.sqlite"
    assert main(["--db", str(db), "db", "import", str(bad), "--board", "stm32h743"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: column 'latency': expected a number (" in err and "got 'slow'" in err
    assert not db.exists()  # every file is parsed before the database is opened: nothing created
    assert main(["--db", str(db), "db", "stats", "--json"]) == 2
    assert f"--db {db}: no such AtomDB; create one with 'atomnet --db {db} db import ...'" in capsys.readouterr().err
    assert main(["--db", str(db), "db", "import", str(tmp_path / "nope.csv"), "--board", "stm32h743"]) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err
