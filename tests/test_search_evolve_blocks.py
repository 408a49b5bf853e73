"""Evolution over a per-block space (issue 16, scope 5): on a block space small enough for brute force it finds
the optimum confirmed with the full cost model, its table figures are the block tables' own, and a seed gives
one result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from atomnet.boards import get_board
from atomnet.cost import cost_model, load_latency_model
from atomnet.db import AtomDB
from atomnet.search import Limits, combine, evolve_blocks, get_block_space, meets
from atomnet.search._evolve_blocks import BlockEvaluator, EvolveOptions, _Evolver, genes
from atomnet.search._exact_blocks import block_spec, tables_for
from atomnet.search._space import BlockOption, BlockSpace, BlockStage
from atomnet.search._tables import FLASH, LAT, MACS, SRAM

#: MCUNet's macro structure, four stages with 4 options per block (kernel 3/5 x expand 3/6) and depths 1-2, then
#: the last block; width multiplier 0.5 and two resolutions: 2 x (4 + 16)^4 x 4 = 1,280,000 architectures
_OPTS = tuple(BlockOption("mbconv", k, e) for k in (3, 5) for e in (3, 6))
SMALL = BlockSpace("mcunet-small", 32, 16,
                   (*(BlockStage(w, 2, (1, 2), _OPTS) for w in (24, 40, 80, 192)), BlockStage(320, 1, (1,), _OPTS)),
                   (0.5,), (128, 160))
LIMITS = Limits(120.0, 512 * 1024, 160 * 1024)


@pytest.fixture(scope="module")
def setup(public_db_path: Path):  # type: ignore[no-untyped-def]
    board = get_board("stm32h743")
    return board, load_latency_model(board, AtomDB(public_db_path))


def _brute_force(space: BlockSpace, board, lm, limits: Limits) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """The most MACs meeting ``limits`` with the full cost model: every table-feasible architecture of every
    sub-space (the exhaustive combination), most MACs first, confirmed until one meets (the planner's peak is at
    least the tables' SRAM bound, so none that meets is missed). Returns (MACs, confirmations)."""
    macs, subs, rows = [], [], []
    built: list[tuple[int, int, list[list[tuple[int, ...]]]]] = []
    for wm in range(len(space.width_multipliers)):
        for res in range(len(space.resolutions)):
            tables, configs = tables_for(space, lm, "xcube-ai", wm, res)
            comb = combine(tables, limits)
            ok = np.nonzero(comb.metrics.within(limits))[0]
            macs.append(comb.metrics.macs[ok])
            subs.append(np.full(len(ok), len(built)))
            rows.append(comb.choices[ok])
            built.append((wm, res, configs))
    all_macs, all_subs = np.concatenate(macs), np.concatenate(subs)
    all_rows = np.concatenate(rows)
    assert len(all_macs) > 10_000  # the limits bind, but leave a real search
    for n, i in enumerate(np.argsort(-all_macs, kind="stable"), start=1):
        wm, res, configs = built[int(all_subs[i])]
        arch = tuple(configs[k][int(c)] for k, c in enumerate(all_rows[i][1:]))
        rep = cost_model(block_spec(space, wm, res, arch), board, runtime="xcube-ai", latency_model=lm)
        if meets(rep, limits):
            return float(all_macs[i]), n
    raise AssertionError("nothing meets the limits")


def test_table_figures_are_the_block_tables_and_the_full_model(setup) -> None:  # type: ignore[no-untyped-def]
    board, lm = setup
    space = get_block_space("mcunet")
    assert space is not None
    ev = BlockEvaluator(space, board, lm, "xcube-ai")
    g = (3, 8, ((0, 8, 2, 5), (2, 2, 2, 2), (3, 2, 2, 2), (2, 2, 2, 2), (1, 2, 1, 2), (1,)))
    assert genes(space, g) == 2 + 6 + 21
    m = ev.metrics(g)
    tables, configs = tables_for(space, lm, "xcube-ai", 3, 8)
    idx = np.array([[0] + [configs[i].index(a) for i, a in enumerate(g[2])]])
    assert m.macs == tables.evaluate(idx)[0, MACS]
    rep = cost_model(block_spec(space, *g), board, runtime="xcube-ai", latency_model=lm)
    assert m.macs == rep.macs and m.flash_bytes == rep.flash_bytes
    assert m.latency_ms == pytest.approx(rep.latency_ms, rel=1e-12)
    # the SRAM guide (table bound + measured gap line in the number of blocks) is the planner's peak here
    assert m.peak_sram_bytes == rep.peak_sram_bytes


def test_evolution_finds_the_brute_force_optimum(setup) -> None:  # type: ignore[no-untyped-def]
    board, lm = setup
    best, confirmations = _brute_force(SMALL, board, lm, LIMITS)
    assert best == 21_691_392 and confirmations >= 1
    ev = BlockEvaluator(SMALL, board, lm, "xcube-ai")
    for seed in range(6):
        r = evolve_blocks(SMALL, board, "xcube-ai", lm, LIMITS, evaluations=5000, seed=seed, tables=ev)
        # every evaluation a distinct architecture; a converged run may stop early (its children all met before)
        assert 0 < r.evaluated <= 5000 and r.cost is not None and r.best is not None
        assert meets(r.cost, LIMITS) and r.cost.macs == r.best.fitness
        assert r.best.fitness >= 0.99 * best, (seed, r.best.fitness, best, r.evaluated)
        assert r.best.fitness <= best


def test_deterministic_per_seed(setup) -> None:  # type: ignore[no-untyped-def]
    board, lm = setup
    ev = BlockEvaluator(SMALL, board, lm, "xcube-ai")
    runs = [evolve_blocks(SMALL, board, "xcube-ai", lm, LIMITS, evaluations=1500, seed=s, tables=ev,
                          options=EvolveOptions(population=50)) for s in (7, 7, 8)]
    assert runs[0].best == runs[1].best and runs[0].feasible == runs[1].feasible
    assert runs[0].confirmations == runs[1].confirmations
    assert runs[2].best != runs[0].best or runs[2].feasible != runs[0].feasible


def test_memetic_steps_prune_dominated_and_count_every_evaluation(setup) -> None:  # type: ignore[no-untyped-def]
    board, lm = setup
    ev = BlockEvaluator(SMALL, board, lm, "xcube-ai")
    # a memetic step at the start with the whole budget: the Lagrangian walk and the trades must stop at it
    evo = _Evolver(SMALL, ev, LIMITS, 300, 3, EvolveOptions(population=20, polish_at=(0.0,), polish=1.0), None)
    evo.run()
    assert len(evo.history) == 300 and len({c.genome for c in evo.history}) == 300
    for i in range(len(SMALL.stages)):
        idx, macs = evo.front(0, 1, i)
        rows, add = ev.stage_rows(0, 1, i)
        cost = np.stack([rows[:, LAT], rows[:, FLASH], rows[:, SRAM] - add, add, -rows[:, MACS]], axis=1)
        assert list(macs) == sorted(macs) and len(idx) >= 2
        for r in range(len(cost)):  # brute force: a configuration is left out iff dominated or a duplicate row
            dominated = ((cost <= cost[r]).all(axis=1) & (cost < cost[r]).any(axis=1)).any()
            same = (cost[idx] == cost[r]).all(axis=1).any()
            assert (r in idx) <= (not dominated) and (dominated or same)
