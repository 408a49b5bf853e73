"""Strategies on synthetic stage tables: exhaustive optimum, evolution, random, journal resume, and one
contract suite that every registered strategy runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from atomnet.search import (
    Candidate,
    Evaluation,
    Evolution,
    Exhaustive,
    Journal,
    JournaledEvaluator,
    JournalMismatch,
    Limits,
    Metrics,
    RandomSearch,
    ResolutionTables,
    SearchResult,
    StageConfig,
    StageTable,
    Strategy,
    TableEvaluator,
    get_space,
    get_strategy,
    list_strategies,
)

LIMITS = Limits(latency_ms=1500.0, flash_bytes=60_000.0, peak_sram_bytes=200_000.0)


def _synthetic_evaluator(seed: int = 0, limits: Limits = LIMITS) -> TableEvaluator:
    """Tables for the real hybrid space shape with monotone-ish synthetic costs."""
    space = get_space("hybrid")
    rng = np.random.default_rng(seed)
    tabs = []
    for res in space.resolutions:
        stages = []
        n_in = 1
        for s in space.stages:
            widths = s.widths
            n = len(s.choices)
            w = np.array([c.width * c.depth * c.expand for c in s.choices], dtype=float)
            scale = (res / 160) ** 2
            cost = np.empty((n_in, n, 4))
            for a in range(n_in):
                cost[a, :, 0] = w * scale * rng.uniform(0.9, 1.1, n)  # latency
                cost[a, :, 1] = w * 50 * rng.uniform(0.9, 1.1, n)  # flash
                cost[a, :, 2] = w * scale * 300  # sram
                cost[a, :, 3] = w * scale * 1e4 * rng.uniform(0.8, 1.2, n)  # macs
            out_index = np.array([widths.index(c.width) for c in s.choices])
            stages.append(StageTable(cost, out_index))
            n_in = len(widths)
        tabs.append(ResolutionTables(res, tuple(stages), np.zeros(4)))
    return TableEvaluator(space, tabs, limits)


def _fitness(cfg: StageConfig) -> float:
    """A custom score of a stage config (resolution first, then widths)."""
    return float(cfg["input_resolution"]) + sum(s["out_channels"] for s in cfg["stages"]) / 1000


def _best(r: SearchResult) -> tuple[int, list[int], float]:
    assert r.best is not None
    return r.best.resolution_index, list(r.best.choices), r.best.fitness


def test_exhaustive_beats_random_and_evolution_gets_close() -> None:
    ev = _synthetic_evaluator()
    ex = Exhaustive().run(ev)
    assert ex.found and ex.evaluated == 57_153_600 and ex.best is not None
    # exact: re-evaluating the winner gives the reported metrics and it is feasible
    again = ev.evaluate(ex.best.resolution_index, ex.best.choices)
    assert again.metrics == ex.best.metrics and again.feasible
    rnd = RandomSearch(seed=0, samples=200_000).run(ev)
    evo = Evolution(seed=0, cycles=20_000).run(ev)
    assert rnd.best is not None and evo.best is not None
    assert rnd.best.fitness <= ex.best.fitness
    assert 0.99 * ex.best.fitness <= evo.best.fitness <= ex.best.fitness


def test_results_pinned() -> None:
    """The figures of these runs (exhaustive and random: as before the strategies became classes owning
    their generator; evolution: since repeats cost no evaluation and the penalty became 2, issue 16):
    a change here changes every seeded search."""
    ev = _synthetic_evaluator()
    ex = Exhaustive().run(ev)
    assert _best(ex) == (3, [0, 2, 1, 6, 0, 2], 14161777.785604537)
    assert ex.best is not None and ex.best.metrics == Metrics(1259.9949873750015, 59735.72881712511, 172800.0,
                                                               14161777.785604537)
    assert (len(ex.candidates), ex.feasible) == (384, 14380)
    e0, e7 = Evolution(seed=0, cycles=3000).run(ev), Evolution(seed=7, cycles=3000).run(ev)
    assert _best(e0) == (3, [0, 2, 1, 6, 0, 2], 14161777.785604537) and (e0.feasible, len(e0.candidates)) == (222, 222)
    assert _best(e7) == (3, [4, 1, 0, 42, 0, 2], 14149036.701336645) and (e7.feasible, len(e7.candidates)) == (284, 256)
    fit = dataclasses.replace(ev, fitness=_fitness)
    ef = Evolution(seed=2, cycles=1500).run(fit)
    assert _best(ef) == (3, [4, 4, 8, 48, 0, 0], 160.416) and ef.feasible == 283
    r = RandomSearch(seed=0, samples=200_000).run(ev)
    assert _best(r) == (3, [1, 0, 8, 9, 0, 0], 13020654.330913795) and (r.feasible, len(r.candidates)) == (51, 16)
    rf = RandomSearch(seed=1, samples=20_000, chunk=5000).run(fit)
    assert _best(rf) == (3, [4, 2, 4, 60, 0, 0], 160.384) and (rf.feasible, len(rf.candidates)) == (5, 5)


def test_infeasible_reports_minima() -> None:
    ev = _synthetic_evaluator(limits=Limits(latency_ms=1e-3))
    res = Exhaustive().run(ev)
    assert not res.found and res.minima is not None
    assert res.minima.latency_ms > 1e-3  # the smallest latency of the space is above the request


def test_journal_resume_matches_uninterrupted(tmp_path: Path) -> None:
    ev = _synthetic_evaluator()
    header = {"strategy": "evolution", "seed": 7}
    full = Evolution(seed=7, cycles=3000).run(ev)

    jpath = tmp_path / "j.jsonl"
    with Journal(jpath, header) as j:
        Evolution(seed=7, cycles=3000).run(JournaledEvaluator(ev, j))
    # as if killed after 1234 evaluations, in the middle of writing the next line
    lines = jpath.read_text().splitlines(keepends=True)
    jpath.write_text("".join(lines[:1 + 1234]) + lines[1 + 1234][:17])
    with Journal(jpath, header) as j2:
        assert len(j2.entries) == 1234
        resumed = Evolution(seed=7, cycles=3000).run(JournaledEvaluator(ev, j2))
    assert resumed == dataclasses.replace(full, seconds=resumed.seconds)  # every record equal, history included
    lines = jpath.read_text().splitlines()
    assert len(lines) == 1 + 3000  # header + every evaluation once, no duplicates
    assert Evaluation.from_json(Journal(jpath, header).entries[2999]) == full.history[2999]

    with pytest.raises(JournalMismatch, match="written with seed 7; this run uses seed 8"):
        Journal(jpath, {"strategy": "evolution", "seed": 8})


def test_journal_line_with_bad_values_is_named(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    with Journal(p, {"seed": 1}) as j:
        Evolution(seed=1, cycles=5, population=5).run(JournaledEvaluator(_synthetic_evaluator(), j))
    lines = p.read_text().splitlines()
    lines[3] = lines[3].replace('"metrics": [', '"metrics": [1.0, ')
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(JournalMismatch, match=r"j.jsonl:4: not an evaluation \(metrics: expected 4 numbers"):
        Journal(p, {"seed": 1})


# ---- the contract every registered strategy meets ------------------------------------------------
def _small_evaluator() -> TableEvaluator:
    """The synthetic tables at two resolutions under loose limits (a short run of any strategy meets them)."""
    ev = _synthetic_evaluator()
    space = dataclasses.replace(ev.space, resolutions=ev.space.resolutions[3:5])
    return TableEvaluator(space, ev.tables[3:5], Limits(latency_ms=3000.0, flash_bytes=120_000.0,
                                                        peak_sram_bytes=400_000.0))


def _quick(cls: type[Strategy], seed: int | None) -> Strategy:
    small = {"cycles": 600, "population": 50, "samples": 20_000, "chunk": 7_000}
    opts = {k: v for k, v in small.items() if k in cls.options_spec}
    return cls(**opts) if seed is None else cls(seed=seed, **opts)


@pytest.mark.parametrize("name", list_strategies())
def test_strategy_contract(name: str) -> None:
    cls = get_strategy(name)
    assert cls.name == name and issubclass(cls, Strategy)
    ev = _small_evaluator()
    state = np.random.get_state()[1].copy()  # type: ignore[index]
    seed = 11 if cls.seeded else None
    res = _quick(cls, seed).run(ev)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # type: ignore[index]  # global RNG untouched
    assert isinstance(res, SearchResult) and res.strategy == name and res.best is not None
    assert res.evaluated > 0 and 0 < res.feasible <= res.evaluated
    assert res.candidates and res.candidates[0].fitness == res.best.fitness
    assert [c.fitness for c in res.candidates] == sorted((c.fitness for c in res.candidates), reverse=True)
    for cand in res.candidates[:20]:  # every candidate re-evaluates to its figures and meets the limits
        assert isinstance(cand, Candidate) and cand.feasible
        assert ev.evaluate(cand.resolution_index, cand.choices) == cand
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.best.fitness = 0.0  # type: ignore[misc]
    if cls.seeded:  # the same seed gives the same run, from a generator the strategy owns
        again = _quick(cls, seed).run(ev)
        assert again.best == res.best and again.candidates == res.candidates
    else:
        with pytest.raises(ValueError, match=f"seed does not apply to strategy '{name}'"):
            cls(seed=1)
    with pytest.raises(ValueError, match=f"no_such_option does not apply to strategy '{name}'"):
        cls(no_such_option=1)
    assert set(cls.check_options({})) == set(cls.options_spec)
    for opt in cls.options_spec.values():
        assert opt.kind in ("count", "fraction", "weight") and opt.help


def test_strategies_own_their_generator() -> None:
    a, b = Evolution(seed=3), Evolution(seed=3)
    assert a.rng is not b.rng and a.rng is not None and b.rng is not None
    assert a.rng.random() == b.rng.random() == np.random.default_rng(3).random()
    assert Exhaustive().rng is None and Exhaustive().seed is None and Evolution().seed == 0
