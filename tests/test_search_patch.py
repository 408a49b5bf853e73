"""atomnet search --patch auto: architecture × execution plan (issue 14, item 4), on a 128-architecture space."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atomnet.boards import get_board
from atomnet.cli import main
from atomnet.cost import cost_model, load_latency_model, patch_cost
from atomnet.errors import InputError
from atomnet.search import JournalMismatch, Limits, fitting_plan, run_search, space_from_dict
from atomnet.spec import ModelSpec, from_stage_config

TINY = {"name": "tiny", "resolutions": [96, 128], "stages": [
    {"stride": 2, "act": "relu", "block": "conv", "widths": [8, 16]},
    {"stride": 2, "act": "hswish", "block": "sep", "widths": [16, 32], "depths": [1, 2]},
    {"stride": 2, "act": "hswish", "blocks": ["sep", "convnext"], "widths": [32, 64], "expands": [1, 3], "se": True}]}
LIMITS = Limits(flash_bytes=1024 * 1024, peak_sram_bytes=64 * 1024)


def _setup() -> tuple[Any, Any, Any]:
    board = get_board("stm32h743")
    return board, load_latency_model(board, None), space_from_dict(TINY)  # embedded predictors (no database)


def test_patch_auto_wins_more_macs_under_a_patch_plan_and_recosts_the_same() -> None:
    board, lm, space = _setup()
    plain = run_search(space, board, lm, LIMITS)
    assert plain.cost is not None and plain.patch_option is None and plain.plan is None
    assert (plain.cost.macs, plain.cost.peak_sram_bytes) == (5_061_632, 62_745)
    out = run_search(space, board, lm, LIMITS, patch="auto")
    assert out.found and out.cost is not None and out.patch is not None and not out.capped
    assert out.plan == out.patch.plan == "2x2@2"
    # the model's own MACs (the objective) grow: its layer-based peak is over 64 KB, its patched peak under
    assert (out.cost.macs, out.cost.peak_sram_bytes, out.patch.peak_sram_patch_bytes) == (6_282_240, 82_314, 59_661)
    assert out.patch.macs_patch == 6_337_968 and out.patch.extra_macs == 55_728
    assert out.patch.latency_ms_patch == pytest.approx(32.706891, abs=1e-5)
    assert out.cost.latency_ms == pytest.approx(31.98, abs=5e-3)
    # re-cost: the saved spec with the chosen plan gives the same figures
    spec = ModelSpec.from_dict(json.loads(json.dumps(out.spec.to_dict() if out.spec else None)))
    rep, pc = patch_cost(spec, board, out.plan, latency_model=lm)
    assert pc.to_dict() == out.patch.to_dict() and rep.to_dict() == out.cost.to_dict()
    d: dict[str, Any] = out.to_dict()
    assert d["patch"]["option"] == "auto" and d["patch"]["plan"] == "2x2@2" and d["patch"]["capped"] is False
    assert d["patch"]["cost"]["peak_sram_patch_bytes"] == 59_661


def test_patch_auto_is_exact_over_the_space() -> None:
    """Brute force: no architecture with more MACs than the winner fits layer-based or under any plan, and the
    winner's plan has the lowest patched latency among its fitting plans (grid 2…8, every split)."""
    board, lm, space = _setup()
    lim = Limits(flash_bytes=1024 * 1024, peak_sram_bytes=40 * 1024)
    plain = run_search(space, board, lm, lim)
    assert plain.cost is not None and (plain.cost.macs, plain.cost.peak_sram_bytes) == (2_875_392, 40_445)
    out = run_search(space, board, lm, lim, patch="auto")
    assert out.cost is not None and out.patch is not None and out.confirmed_after == 16
    assert (out.cost.macs, out.plan, out.patch.peak_sram_patch_bytes) == (3_672_832, "3x3@2", 37_497)
    more = 0
    for r, choices in space.iter_all():
        spec = from_stage_config(space.stage_config(r, choices))
        rep = cost_model(spec, board, latency_model=lm)
        if rep.macs <= out.cost.macs or rep.flash_bytes > lim.flash_bytes:
            continue
        more += 1
        assert rep.peak_sram_bytes > lim.peak_sram_bytes
        assert fitting_plan(spec, board, board.runtime, lm, lim) is None
    assert more == 15  # the 15 candidates walked before the winner
    best = None
    for blocks in range(1, 7):
        for grid in range(2, 9):
            try:
                _, pc = patch_cost(out.spec, board, (grid, blocks), latency_model=lm)  # type: ignore[arg-type]
            except InputError:
                continue
            if pc.peak_sram_patch_bytes <= lim.peak_sram_bytes and (best is None or pc.latency_ms_patch < best):
                best = pc.latency_ms_patch
    assert best == out.patch.latency_ms_patch


def test_patch_auto_layer_based_when_it_fits_and_cap_reported() -> None:
    board, lm, space = _setup()
    loose = Limits(flash_bytes=1024 * 1024, peak_sram_bytes=128 * 1024)
    out = run_search(space, board, lm, loose, patch="auto")
    assert out.plan == "layer-based" and out.patch is None and out.cost is not None and out.cost.macs == 6_282_240
    # a latency limit the patched winner misses: patches cannot help, the layer-based figures bind
    fast = Limits(latency_ms=10.0, flash_bytes=1024 * 1024, peak_sram_bytes=96 * 1024)
    o2 = run_search(space, board, lm, fast, patch="auto")
    assert o2.plan == "layer-based" and o2.cost is not None and o2.cost.macs == 1_389_312
    tight = Limits(flash_bytes=1024 * 1024, peak_sram_bytes=8 * 1024)
    capped = run_search(space, board, lm, tight, patch="auto", max_confirm=3)
    assert not capped.found and capped.capped and capped.confirmed_after == 3
    assert capped.reason is not None and "cap of 3" in capped.reason and "no optimum claimed" in capped.reason
    with pytest.raises(InputError, match="--patch: expected auto"):
        run_search(space, board, lm, LIMITS, patch="4x4@2")
    with pytest.raises(InputError, match="max_confirm"):
        run_search(space, board, lm, LIMITS, patch="auto", max_confirm=0)


def test_journal_header_records_the_patch_option(tmp_path: Path) -> None:
    board, lm, space = _setup()
    j = tmp_path / "j.jsonl"
    kw: dict[str, Any] = {"strategy": "evolution", "seed": 1, "cycles": 60, "population": 20, "journal": j}
    out = run_search(space, board, lm, LIMITS, patch="auto", **kw)
    head = json.loads(j.read_text().splitlines()[0])["header"]
    assert head["patch"] == {"option": "auto", "max_confirm": 2000}
    assert out.patch_option == "auto"
    with pytest.raises(JournalMismatch, match="patch"):
        run_search(space, board, lm, LIMITS, **kw)


def test_cli_search_patch_auto_recosts_through_atomnet_cost(tmp_path: Path, public_db_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    sp = tmp_path / "tiny.json"
    sp.write_text(json.dumps(TINY))
    best = tmp_path / "best.json"
    db = ["--db", str(public_db_path)]
    assert main([*db, "search", "--space", str(sp), "--board", "stm32h743", "--sram", "64KB", "--flash", "1MB",
                 "--patch", "auto", "--out", str(best), "--json", "--no-progress"]) == 0
    found = json.loads(capsys.readouterr().out)
    plan = found["patch"]["plan"]
    assert plan not in (None, "layer-based") and found["cost"]["peak_sram_bytes"] > 64 * 1024
    assert main([*db, "cost", str(best), "--board", "stm32h743", "--patch", plan, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    want = found["patch"]["cost"]
    for k in ("plan", "peak_sram_patch_bytes", "latency_ms_patch", "macs_patch", "macs_layer", "latency_ms_layer"):
        assert again["patch"][k] == want[k], k
    assert (again["macs"], again["latency_ms"], again["flash_bytes"]) == (
        found["cost"]["macs"], found["cost"]["latency_ms"], found["cost"]["flash_bytes"])
    assert main([*db, "search", "--space", str(sp), "--max-confirm", "5", "--no-progress"]) == 2
    assert "--max-confirm applies with --patch auto" in capsys.readouterr().err
