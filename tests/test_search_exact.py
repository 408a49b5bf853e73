"""The exact segment programme (``--strategy exact``) against brute force and against the exhaustive strategy.

Equality is asserted on the whole candidate list (the ``top_k`` best per resolution, in order, with their
figures), not only on the winner: the runner confirms that list with the runtime planner, so equal lists give
equal confirmed winners.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from atomnet.boards import get_board
from atomnet.cost import cost_model, load_latency_model
from atomnet.db import AtomDB
from atomnet.search import (
    Exact,
    Exhaustive,
    Limits,
    ResolutionTables,
    StageTable,
    TableEvaluator,
    build_tables,
    get_space,
    run_search,
    space_from_dict,
)
from atomnet.search._exact import descending
from atomnet.search._exact_blocks import block_spec, tables_for
from atomnet.search._exact_pareto import prune, relaxed_sets
from atomnet.search._space import get_block_space

BOARD = get_board("stm32h743")
RUNTIMES = ("tinyengine", "tflm", "xcube-ai")


# ---- the pieces, against brute force ---------------------------------------------------------------------------
def test_prune_keeps_exactly_the_non_dominated_points() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 5, 300, 900):
        pts = np.round(rng.uniform(0, 20, size=(n, 3)))  # integers: many ties and duplicates
        kept = prune(pts)
        dominated = [bool(np.any((pts[:, 0] <= p[0]) & (pts[:, 1] <= p[1]) & (pts[:, 2] >= p[2])
                                 & (pts != p).any(axis=1))) for p in pts]
        expect = {tuple(p) for p, d in zip(pts, dominated, strict=True) if not d}
        assert {tuple(p) for p in kept} == expect and len(kept) == len(expect)  # duplicates kept once


def _random_tables(rng: np.random.Generator) -> ResolutionTables:
    stages, n_in = [], 1
    for _ in range(4):
        n_choice, n_out = int(rng.integers(2, 7)), int(rng.integers(1, 4))
        cost = rng.uniform(1, 10, size=(n_in, n_choice, 4))
        cost[..., 3] = np.round(cost[..., 3])  # integer MACs, as real ones: ties happen
        cost[rng.random((n_in, n_choice)) < 0.15] = np.nan
        stages.append(StageTable(cost, rng.integers(0, n_out, n_choice)))
        n_in = n_out
    return ResolutionTables(96, tuple(stages), np.array([1.0, 2.0, 0.5, 0.0]))


@pytest.mark.parametrize("limits", [Limits(22.0, 24.0, 8.5), Limits(30.0, 28.0, 9.5, min_macs=15.0),
                                    Limits(26.0, 40.0, 9.0, max_macs=21.0), Limits()])
@pytest.mark.parametrize("relax", [False, True])
def test_descending_yields_every_feasible_architecture_in_decreasing_macs(limits: Limits, relax: bool) -> None:
    """Exact bound (3-D Pareto sets) or relaxed one (two 2-D staircases): the same architectures, the same order."""
    rng = np.random.default_rng(5)
    for _ in range(15):
        t = _random_tables(rng)
        relaxed = relaxed_sets(t, limits.latency_ms, limits.flash_bytes, limits.peak_sram_bytes) if relax else None
        every = np.array(list(itertools.product(*[range(s.n_choice) for s in t.stages])))
        m = t.evaluate(every)
        ok = ~np.isnan(m).any(axis=1) & (m[:, 0] <= limits.latency_ms) & (m[:, 1] <= limits.flash_bytes)
        ok &= (m[:, 2] <= limits.peak_sram_bytes) & (m[:, 3] >= limits.min_macs) & (m[:, 3] <= limits.max_macs)
        got = list(descending(t, limits, relaxed=relaxed))
        assert sorted(c for c, _ in got) == sorted(tuple(int(v) for v in c) for c in every[ok])
        macs = [acc[3] for _, acc in got]
        assert macs == sorted(macs, reverse=True)
        for c, acc in got:  # the figures are the tables' own, bit for bit
            assert acc.tolist() == t.evaluate(np.array([c]))[0].tolist()


# ---- against the exhaustive strategy on real tables ------------------------------------------------------------
def _binding_limits(ev: TableEvaluator, seed: int) -> list[Limits]:
    """Budgets at quantiles of a random sample of the space's figures, so each limit binds somewhere."""
    rng = np.random.default_rng(seed)
    r, c = ev.space.sample(rng, 4000)
    m = ev.metrics(r, c)
    q = [np.quantile(x, [0.25, 0.6]) for x in (m.latency_ms, m.flash_bytes, m.peak_sram_bytes, m.macs)]
    return [Limits(q[0][1], q[1][1], q[2][0]), Limits(q[0][0], q[1][1], q[2][1]),
            Limits(q[0][1], q[1][0], q[2][1], max_macs=q[3][1]), Limits(np.inf, q[1][1], q[2][1])]


def _same(ev: TableEvaluator) -> None:
    a, b = Exact().run(ev), Exhaustive().run(ev)
    assert a.candidates == b.candidates and a.best == b.best and a.evaluated == b.evaluated
    assert (a.best is None) == (b.best is None)


def _random_space(rng: np.random.Generator, n: int) -> dict[str, Any]:
    """A user space file of 10^5-10^7 architectures: stem, then 4-5 stages of mixed blocks."""
    blocks = ["sep", "convnext", "mbconv"]
    stages: list[dict[str, Any]] = [{"stride": 2, "act": "relu", "block": "conv",
                                     "widths": sorted(rng.choice([8, 16, 24, 32], 2, replace=False).tolist())}]
    for i in range(int(rng.integers(4, 6))):
        k = int(rng.integers(1, 3))
        stages.append({"stride": 1 if i == 0 else 2, "act": "hswish", "blocks": rng.choice(blocks, k,
                                                                                         replace=False).tolist(),
                       "widths": sorted(rng.choice(np.arange(16, 161, 16), int(rng.integers(2, 6)),
                                                   replace=False).tolist()),
                       "depths": [1, 2, 3][: int(rng.integers(1, 4))], "expands": [1, 4] if i >= 2 else [1],
                       "se": bool(i >= 3 and rng.random() < 0.5)})
    return {"name": f"random{n}", "resolutions": sorted(rng.choice([64, 96, 128, 160], 2, replace=False).tolist(),
                                                        reverse=True),
            "num_classes": 100, "stages": stages}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_exact_equals_exhaustive_on_random_user_spaces(runtime: str, public_db: AtomDB) -> None:
    lm = load_latency_model(BOARD, public_db)
    rng = np.random.default_rng({"tinyengine": 1, "tflm": 2, "xcube-ai": 3}[runtime])
    sizes: list[int] = []
    while len(sizes) < 2:
        space = space_from_dict(_random_space(rng, len(sizes)))
        if not 10**5 <= space.size() <= 10**7:
            continue
        n = len(sizes)
        sizes.append(space.size())
        tables = build_tables(space, lm, runtime)
        for lim in _binding_limits(TableEvaluator(space, tables), n):
            _same(TableEvaluator(space, tables, lim))


@pytest.mark.slow
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_exact_equals_exhaustive_on_the_hybrid_space(runtime: str, public_db: AtomDB) -> None:
    """The paper's 57,153,600-architecture space, every runtime, the standard budget and two others."""
    space = get_space("hybrid")
    tables = build_tables(space, load_latency_model(BOARD, public_db), runtime)
    kb = 1024
    for lim in (Limits(275.0, 1024 * kb, 256 * kb), Limits(150.0, 1024 * kb, 320 * kb),
                Limits(np.inf, 2048 * kb, 512 * kb)):
        _same(TableEvaluator(space, tables, lim))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sep", "convnext", "mbconv"])
def test_exact_equals_exhaustive_on_the_ablation_spaces(name: str, public_db: AtomDB) -> None:
    space = get_space(name)
    tables = build_tables(space, load_latency_model(BOARD, public_db), "xcube-ai")
    _same(TableEvaluator(space, tables, Limits(275.0, 1024 * 1024, 256 * 1024)))


def test_run_search_exact_confirms_the_exhaustive_winner(public_db: AtomDB, tmp_path: Path) -> None:
    """End to end at the standard budget: the same confirmed winner (the README tour's 103.36 M MACs)."""
    space = get_space("hybrid")
    lm = load_latency_model(BOARD, public_db)
    tables = build_tables(space, lm, BOARD.runtime)
    lim = Limits(275.0, 1024 * 1024, 256 * 1024)
    out = run_search(space, BOARD, lm, lim, strategy="exact", tables=tables)
    assert out.found and out.cost is not None and out.strategy == "exact"
    assert round(out.cost.macs / 1e6, 2) == 103.36
    assert out.evaluated == 57_153_600 and out.confirmed_after >= 1
    ref = run_search(space, BOARD, lm, lim, strategy="exhaustive", tables=tables)
    assert out.stage_config == ref.stage_config and out.confirmed_after == ref.confirmed_after


def test_mcunet_space_size_is_exact() -> None:
    """9 width multipliers x 12 resolutions x (9^2 + 9^3 + 9^4)^5 stage configurations x 9 last-block options."""
    sp = get_block_space("mcunet")
    assert sp is not None
    assert sp.size() == 9 * 12 * 7371**5 * 9 == 21_149_413_138_780_456_247_172
    assert sp.widths(3) == (16, 8, (16, 24, 40, 48, 96, 160))  # w0.5: the widths of zoo mcunet-320kb-1mb


def test_mcunet_block_tables_add_up_to_the_full_cost(public_db: AtomDB) -> None:
    """Latency, Flash and MACs of a random architecture from the block tables equal the full cost model's; the
    SRAM figure is a lower bound of the planner's peak."""
    sp = get_block_space("mcunet")
    assert sp is not None
    lm = load_latency_model(BOARD, public_db)
    tab, configs = tables_for(sp, lm, "tinyengine", 3, 7)
    rng = np.random.default_rng(0)
    for _ in range(3):
        ch = [0] + [int(rng.integers(0, t.n_choice)) for t in tab.stages[1:]]
        m = tab.evaluate(np.array([ch]))[0]
        rep = cost_model(block_spec(sp, 3, 7, tuple(configs[i][c] for i, c in enumerate(ch[1:]))), BOARD,
                         runtime="tinyengine", latency_model=lm)
        assert m[3] == rep.macs and m[1] == rep.flash_bytes and m[2] <= rep.peak_sram_bytes
        assert m[0] == pytest.approx(rep.latency_ms, rel=1e-12)
