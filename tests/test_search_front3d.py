"""Budget sweep (issue 16, scope 3): every point is the exact optimum at its budget (checked against the
exhaustive search), the best MACs never fall when a limit grows, the 3-D front flags, plots and the CLI."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from atomnet.boards import get_board
from atomnet.cli import main
from atomnet.cost import load_latency_model
from atomnet.db import AtomDB
from atomnet.report import plot_budget_front, plot_latency_fronts
from atomnet.search import BudgetFront, Limits, Space, StageDef, budget_sweep, build_tables, get_space, run_search

KB, MB = 1024, 1024 * 1024


@pytest.fixture(scope="module")
def setup(public_db_path: Path):  # type: ignore[no-untyped-def]
    board = get_board("stm32h743")
    lm = load_latency_model(board, AtomDB(public_db_path))
    return board, lm


def _small_space() -> Space:
    """The hybrid macro space with every third choice of each stage and four resolutions (~50 k members):
    small enough for the exhaustive strategy at every budget."""
    hy = get_space("hybrid")
    stages = tuple(StageDef(s.stride, s.act, s.choices[::3]) for s in hy.stages)
    return Space("hybrid-thin", stages, (224, 160, 128, 92))


@pytest.fixture(scope="module")
def small_sweep(setup):
    board, lm = setup
    space = _small_space()
    tables = build_tables(space, lm, "xcube-ai")
    front = budget_sweep(space, tables, board, lm, "xcube-ai", [96 * KB, 192 * KB, 320 * KB], [512 * KB, 1 * MB],
                         [60.0, 120.0, 250.0])
    return space, tables, front


def test_every_point_is_the_exhaustive_optimum(setup, small_sweep) -> None:  # type: ignore[no-untyped-def]
    board, lm = setup
    space, tables, front = small_sweep
    assert len(front.points) == 18
    found = 0
    for p in front.points:
        lim = Limits(p.latency_limit_ms, p.flash_limit_bytes, p.sram_limit_bytes)
        ex = run_search(space, board, lm, lim, runtime="xcube-ai", strategy="exhaustive", tables=tables)
        if ex.cost is None:
            assert p.macs is None
            continue
        found += 1
        assert p.macs == ex.cost.macs
        assert p.latency_ms == ex.cost.latency_ms and p.peak_sram_bytes == ex.cost.peak_sram_bytes
        assert p.latency_ms is not None and p.latency_ms <= p.latency_limit_ms
        assert p.peak_sram_bytes is not None and p.peak_sram_bytes <= p.sram_limit_bytes
        assert p.flash_bytes is not None and p.flash_bytes <= p.flash_limit_bytes
    assert found >= 12  # most budgets of the grid have a winner: the check is not vacuous


def _monotone(front: BudgetFront) -> None:
    axes = (front.sram_limits_bytes, front.flash_limits_bytes, front.latency_limits_ms)
    for k in range(3):
        for point in itertools.product(*axes):
            i = axes[k].index(point[k])
            if i + 1 == len(axes[k]):
                continue
            bigger = list(point)
            bigger[k] = axes[k][i + 1]
            a, b = front.at(*point).macs, front.at(*bigger).macs
            if a is not None:
                assert b is not None and b >= a, (point, bigger, a, b)


def test_monotone_in_each_limit_and_front_flags(small_sweep) -> None:  # type: ignore[no-untyped-def]
    _space, _tables, front = small_sweep
    _monotone(front)
    on = front.front()
    assert on and all(p.on_front and p.macs is not None for p in on)
    won = [p for p in front.points if p.macs is not None]
    for p in won:  # a flagged winner is beaten by no other in all three costs; an unflagged one is
        beaten = any(q.latency_ms <= p.latency_ms and q.peak_sram_bytes <= p.peak_sram_bytes
                     and q.flash_bytes <= p.flash_bytes and q.macs >= p.macs
                     and (q.latency_ms, q.peak_sram_bytes, q.flash_bytes, q.macs)
                     != (p.latency_ms, p.peak_sram_bytes, p.flash_bytes, p.macs) for q in won)
        assert p.on_front == (not beaten)


@pytest.mark.slow  # ~20 s idle, about a minute on the shared machine
def test_hybrid_points_equal_the_exact_search(setup) -> None:  # type: ignore[no-untyped-def]
    board, lm = setup
    space = get_space("hybrid")
    tables = build_tables(space, lm, "xcube-ai")
    front = budget_sweep(space, tables, board, lm, "xcube-ai", [128 * KB, 256 * KB], [1 * MB], [150.0, 275.0])
    _monotone(front)
    std = front.at(256 * KB, 1 * MB, 275.0)
    assert std.macs == 103_356_768  # docs/search-exact.md: the exhaustive optimum, confirmed
    for p in front.points:
        ex = run_search(space, board, lm, Limits(p.latency_limit_ms, p.flash_limit_bytes, p.sram_limit_bytes),
                        runtime="xcube-ai", strategy="exact", tables=tables)
        assert ex.cost is not None and p.macs == ex.cost.macs and p.stage_config == ex.stage_config


def test_plots_and_cli(setup, small_sweep, public_db_path: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                       capsys: pytest.CaptureFixture[str]) -> None:
    _space, _tables, front = small_sweep
    a = plot_budget_front(front, tmp_path / "map.png")
    b = plot_latency_fronts(front, tmp_path / "lat.png")
    for f in (a, b):
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.stat().st_size > 10_000
    out_map, out_lat = tmp_path / "cli-map.png", tmp_path / "cli-lat.png"
    assert main(["--db", str(public_db_path), "search-front", "--sram", "256KB", "--flash", "1MB",
                 "--latency", "275ms", "--plot", str(out_map), "--plot-latency", str(out_lat)]) == 0
    text = capsys.readouterr().out
    assert "103.36" in text and "1 distinct winners on the 3-D front" in text
    assert out_map.stat().st_size > 10_000 and out_lat.stat().st_size > 10_000
    assert main(["--db", str(public_db_path), "search-front", "--sram", "256", "--flash", "1MB"]) == 2
    assert main(["--db", str(public_db_path), "search-front", "--space", "mcunet"]) == 2
