"""Strategies on synthetic stage tables: exhaustive optimum, evolution, random, journal resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from atomnet.search._combine import Limits
from atomnet.search._journal import Journal, JournalMismatch
from atomnet.search._space import get_space
from atomnet.search._strategies import TableEvaluator, evolution, exhaustive, random_search
from atomnet.search._tables import ResolutionTables, StageTable


def _synthetic_evaluator(seed: int = 0) -> TableEvaluator:
    """Tables for the real hybrid space shape with monotone-ish synthetic costs."""
    space = get_space("hybrid")
    rng = np.random.default_rng(seed)
    tabs = []
    for r, res in enumerate(space.resolutions):
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
        del r
        tabs.append(ResolutionTables(res, tuple(stages), np.zeros(4)))
    return TableEvaluator(space, tabs)


LIMITS = Limits(latency_ms=1500.0, flash_bytes=60_000.0, peak_sram_bytes=200_000.0)


def test_exhaustive_beats_random_and_evolution_gets_close() -> None:
    ev = _synthetic_evaluator()
    ex = exhaustive(ev, LIMITS)
    assert ex.found and ex.evaluated == 57_153_600
    assert ex.metrics is not None
    # exact: re-evaluating the winner gives the reported metrics and it is feasible
    m = ev.evaluate(np.array([ex.res_index]), np.array([ex.choices]))[0]
    np.testing.assert_allclose(m, ex.metrics)
    rnd = random_search(ev, LIMITS, np.random.default_rng(0), samples=200_000)
    assert rnd.fitness is not None and ex.fitness is not None and rnd.fitness <= ex.fitness
    evo = evolution(ev, LIMITS, np.random.default_rng(0), cycles=20_000)
    assert evo.fitness is not None and ex.fitness is not None
    assert evo.fitness <= ex.fitness
    assert evo.fitness >= 0.99 * ex.fitness


def test_infeasible_reports_minima() -> None:
    ev = _synthetic_evaluator()
    res = exhaustive(ev, Limits(latency_ms=1e-3))
    assert not res.found and res.minima is not None
    assert res.minima[0] > 1e-3  # the smallest latency of the space is above the request


def test_journal_resume_matches_uninterrupted(tmp_path: Path) -> None:
    ev = _synthetic_evaluator()
    header = {"strategy": "evolution", "seed": 7}
    full = evolution(ev, LIMITS, np.random.default_rng(7), cycles=3000)

    jpath = tmp_path / "j.jsonl"
    j = Journal(jpath, header)
    evolution(ev, LIMITS, np.random.default_rng(7), cycles=3000, journal=j)
    j.close()
    # as if killed after 1234 evaluations, in the middle of writing the next line
    lines = jpath.read_text().splitlines(keepends=True)
    jpath.write_text("".join(lines[:1 + 1234]) + lines[1 + 1234][:17])
    j2 = Journal(jpath, header)
    assert len(j2.entries) == 1234
    resumed = evolution(ev, LIMITS, np.random.default_rng(7), cycles=3000, journal=j2)
    j2.close()
    assert resumed.choices == full.choices and resumed.res_index == full.res_index
    assert resumed.fitness == full.fitness
    assert [e["choices"] for e in resumed.history] == [e["choices"] for e in full.history]
    lines = jpath.read_text().splitlines()
    assert len(lines) == 1 + 3000  # header + every evaluation once, no duplicates

    with pytest.raises(JournalMismatch, match="written with seed 7; this run uses seed 8"):
        Journal(jpath, {"strategy": "evolution", "seed": 8})
