"""``atomnet search-space`` (issue 16, scope 4): sub-spaces ranked by their feasible members' MACs, sampled with
the table coster; seeded; the figures agree with the tables they sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from atomnet.boards import get_board
from atomnet.cli import main
from atomnet.cost import load_latency_model
from atomnet.db import AtomDB
from atomnet.search import Limits, MetricArrays, build_tables, get_space, rank_subspaces
from atomnet.search._subspace import sample_subspace

LIMITS = Limits(275.0, 1024 * 1024, 256 * 1024)


@pytest.fixture(scope="module")
def hybrid(public_db_path: Path):  # type: ignore[no-untyped-def]
    lm = load_latency_model(get_board("stm32h743"), AtomDB(public_db_path))
    return lm, build_tables(get_space("hybrid"), lm, "xcube-ai")


def test_sample_matches_the_tables(hybrid) -> None:  # type: ignore[no-untyped-def]
    _lm, tables = hybrid
    t = tables[4]  # 128 px
    s = sample_subspace(t, LIMITS, np.random.default_rng([0, 4]), 3000)
    # the same draws, costed row by row through the tables, give the same feasible set
    rng = np.random.default_rng([0, 4])
    choices = np.stack([rng.integers(0, st.n_choice, 3000) for st in t.stages], axis=1)
    m = MetricArrays.from_columns(t.evaluate(choices))
    macs = m.macs[m.within(LIMITS)]
    assert s.resolution == 128 and s.samples == 3000 and s.feasible == len(macs) > 0
    assert s.mean_feasible_macs == pytest.approx(float(macs.mean()))
    assert s.macs_quantiles[0] == macs.min() and s.macs_quantiles[-1] == macs.max()
    assert list(s.macs_quantiles) == sorted(s.macs_quantiles)


def test_ranking_is_seeded_and_sorted(hybrid) -> None:  # type: ignore[no-untyped-def]
    lm, _tables = hybrid
    space = get_space("hybrid")
    a = rank_subspaces(space, lm, "xcube-ai", LIMITS, samples=2000, seed=3)
    b = rank_subspaces(space, lm, "xcube-ai", LIMITS, samples=2000, seed=3)
    assert a == b and len(a) == len(space.resolutions)
    means = [s.mean_feasible_macs for s in a]
    assert means == sorted(means, reverse=True)
    # 256 px cannot fit 256 KB with any member of the space; small resolutions mostly fit, with few MACs
    r = {s.resolution: s for s in a}
    assert r[256].feasible == 0 and r[48].feasible_fraction > 0.5 > r[224].feasible_fraction
    assert r[48].mean_feasible_macs < r[160].mean_feasible_macs


def test_cli_search_space_json_and_plot(public_db_path: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "cdf.png"
    assert main(["--db", str(public_db_path), "search-space", "--max-sram", "256KB", "--max-flash", "1MB",
                 "--latency", "275ms", "--samples", "1000", "--json", "--plot", str(png)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 9 and rows[0]["feasible"] > 0 and png.read_bytes()[:4] == b"\x89PNG"
    assert main(["search-space", "--samples", "0"]) == 2
    assert "--samples: expected a positive integer, got '0'" in capsys.readouterr().err
