"""Evolution over a per-block space (issue 16, scope 5): on a block space small enough for brute force it finds
the optimum confirmed with the full cost model, its table figures are the block tables' own, and a seed gives
one result."""

from __future__ import annotations

import itertools
import json
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


def test_kbest_walks_the_least_lagrangian_loss_first_and_counts_each(setup) -> None:  # type: ignore[no-untyped-def]
    """The memetic k-best step evaluates the architectures of least Lagrangian loss in increasing loss, each once
    and each counted: checked against the loss of every architecture of the sub-space's allowed configurations
    (brute force over the 5 stages' product)."""
    board, lm = setup
    ev = BlockEvaluator(SMALL, board, lm, "xcube-ai")
    evo = _Evolver(SMALL, ev, LIMITS, 10_000, 1, EvolveOptions(), None)
    cur = evo.evaluate((0, 1, ((0,), (1, 2), (3,), (0, 0), (2,))))
    assert cur is not None and len(evo.history) == 1
    _, cols, ws = evo.lagrange(cur, 0)  # no walk: the allowed configurations and the initial weights, no cost
    assert cols is not None and ws is not None and len(ws) == 2 and len(evo.history) == 1
    w = ws[0]
    losses = []
    for ok, rows, add in cols:
        val = rows[ok, MACS] - w[0] * rows[ok, LAT] - w[1] * rows[ok, FLASH] - w[2] * add[ok]
        losses.append(dict(zip(ok.tolist(), (val.max() - val).tolist(), strict=True)))
    total = np.zeros(1)
    for d in losses:
        total = np.add.outer(total, np.array(list(d.values()))).ravel()
    assert total.size == int(np.prod([len(ok) for ok, _, _ in cols])) > 1000
    n = 150
    left = evo.left
    evo.kbest(cur, cols, w, n)
    new = evo.history[1:]
    assert len(new) == n == left - evo.left and len({c.genome for c in new}) == n
    got = [sum(losses[i][ev.index(i, conf)] for i, conf in enumerate(c.genome[2])) for c in new]
    assert all(b >= a - 1e-6 * (1 + abs(a)) for a, b in itertools.pairwise(got))  # increasing loss
    ranked = np.sort(total)
    assert got[0] == pytest.approx(0.0, abs=1e-6)  # the Lagrangian choice itself comes first
    # the n taken are the n least (one more allowed: the start architecture is not counted again)
    assert max(got) <= ranked[n] + 1e-6 * (1 + abs(ranked[n]))
    for c in new:
        assert c.metrics == ev.metrics(c.genome)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="kbest_weights"):
        EvolveOptions(kbest_weights="mean")
    with pytest.raises(ValueError, match="polish_neighbours"):
        EvolveOptions(polish_neighbours=9)


def test_cli_search_mcunet_evolution(public_db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``atomnet search --space mcunet --strategy evolution`` on one sub-space: a confirmed winner within the
    limits, at most the exact optimum of that sub-space, within 1 % of it, and the evaluations counted."""
    from atomnet.cli import main
    from atomnet.search import restrict_to_subspace
    from atomnet.search._exact_blocks import search_block_space

    db = ["--db", str(public_db_path)]
    args = [*db, "search", "--space", "mcunet", "--strategy", "evolution", "--subspace", "w0.3-r96", "--sram",
            "128KB", "--flash", "512KB", "--latency", "100ms", "--runtime", "xcube-ai"]
    assert main([*args, "--cycles", "3000", "--seed", "2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["found"] and d["strategy"] == "evolution" and d["seed"] == 2
    assert 0 < d["evaluated"] <= 3000 and d["confirmed_after"] >= 1
    assert d["options"] == {"cycles": 3000, "population": 100}
    lim = Limits(100.0, 512 * 1024, 128 * 1024)
    c = d["cost"]
    assert c["peak_sram_bytes"] <= lim.peak_sram_bytes and c["latency_ms"] <= 100.0 and c["flash_bytes"] <= 512 * 1024
    sp = get_block_space("mcunet")
    assert sp is not None
    board = get_board("stm32h743")
    want = search_block_space(restrict_to_subspace(sp, "w0.3-r96"), board,  # type: ignore[arg-type]
                              load_latency_model(board, AtomDB(public_db_path)), lim, "xcube-ai")
    assert want.cost is not None and 0.99 * want.cost.macs <= c["macs"] <= want.cost.macs
    assert main([*args, "--population", "500", "--cycles", "300"]) == 2
    assert "--population 500 exceeds --cycles 300" in capsys.readouterr().err
    assert main([*args, "--journal", "j.jsonl"]) == 2
    assert "--journal" in capsys.readouterr().err


def test_scan_visits_every_subspace_and_counts_each(setup) -> None:  # type: ignore[no-untyped-def]
    """The sub-space scan walks every (width multiplier, resolution) pair, every architecture it costs is a
    distinct, counted evaluation, and it hands back at most ``scan_keep`` new candidates, best first."""
    import dataclasses
    from collections import deque

    board, lm = setup
    space = dataclasses.replace(SMALL, name="mcunet-small-6", width_multipliers=(0.4, 0.5),
                                resolutions=(96, 128, 160))
    ev = BlockEvaluator(space, board, lm, "xcube-ai")
    opts = EvolveOptions(scan_walk=6, scan_keep=3)
    evo = _Evolver(space, ev, LIMITS, 10_000, 4, opts, None)
    pop = deque(c for c in (evo.evaluate(evo.sample()) for _ in range(30)) if c is not None)
    n0, left0 = len(evo.history), evo.left
    got = evo.scan_run(pop)
    scanned = evo.history[n0:]
    assert {c.genome[:2] for c in scanned} == {(w, r) for w in range(2) for r in range(3)}
    assert len(scanned) == left0 - evo.left <= 6 * (1 + 6)
    assert len({c.genome for c in evo.history}) == len(evo.history)
    assert 1 <= len(got) <= 3 and not {c.genome for c in got} & {c.genome for c in pop}
    assert [evo.score(c) for c in got] == sorted((evo.score(c) for c in got), reverse=True)
