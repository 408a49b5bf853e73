"""The vectorized exhaustive combiner against a brute-force loop over every architecture."""

from __future__ import annotations

import itertools

import numpy as np

from atomnet.search import Limits, ResolutionTables, StageTable, combine, minima


def _random_tables(rng: np.random.Generator) -> ResolutionTables:
    stages = []
    n_in = 1
    for _ in range(4):
        n_choice = int(rng.integers(2, 6))
        n_out = int(rng.integers(1, 4))
        cost = rng.uniform(1, 10, size=(n_in, n_choice, 4))
        cost[rng.random((n_in, n_choice)) < 0.15] = np.nan  # some (input, choice) pairs cannot occur
        stages.append(StageTable(cost, rng.integers(0, n_out, n_choice)))
        n_in = n_out
    return ResolutionTables(96, tuple(stages), np.array([1.0, 2.0, 0.5, 0.0]))


def test_combine_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        t = _random_tables(rng)
        lim = Limits(latency_ms=22.0, flash_bytes=24.0, peak_sram_bytes=8.5)
        all_choices = np.array(list(itertools.product(*[range(s.n_choice) for s in t.stages])))
        m = t.evaluate(all_choices)  # columns: latency, Flash, peak SRAM, MACs
        valid = ~np.isnan(m).any(axis=1)
        feas = valid & (m[:, 0] <= 22.0) & (m[:, 1] <= 24.0) & (m[:, 2] <= 8.5)
        res = combine(t, lim)
        assert res.evaluated == int(valid.sum())
        assert len(res.metrics) == int(feas.sum())
        if feas.any():
            best = m[feas][:, 3].max()
            assert res.metrics.macs.max() == best
            # the choices returned re-evaluate to the same metrics
            np.testing.assert_allclose(t.evaluate(res.choices.astype(np.int64)), res.metrics.as_columns())
        mins = minima(t)
        np.testing.assert_allclose(mins.as_list(), np.nanmin(m[valid], axis=0))
