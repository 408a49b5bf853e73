"""Search strategies over a :class:`Space` (registered by name; randomness passed in as a seeded RNG).

* ``exhaustive`` — the exact maximum-MACs architecture meeting the limits over the whole space,
  by vectorized combination of per-stage tables (:mod:`atomnet.search._combine`).
* ``evolution`` — regularized evolution (Real et al., 2019): population, tournament selection,
  mutation of one gene, removal of the oldest; fitness is MACs by default or any ``spec → float``.
* ``random`` — uniform random sampling, the baseline.
"""

from __future__ import annotations

import math
import numbers
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from atomnet.search._combine import Limits, combine, minima
from atomnet.search._journal import Journal
from atomnet.search._space import Space
from atomnet.search._tables import FLASH, LAT, MACS, SRAM, ResolutionTables

Fitness = Callable[[dict[str, Any]], float]  # AtomNet stage config of a feasible candidate → score
Progress = Callable[[int, int], None]  # (done, total)


class Evaluator(Protocol):
    space: Space

    def evaluate(self, res_idx: np.ndarray, choices: np.ndarray) -> np.ndarray: ...


class TableEvaluator:
    """Costs of architectures from per-resolution stage tables (array arithmetic, no lowering)."""

    def __init__(self, space: Space, tables: Sequence[ResolutionTables]) -> None:
        self.space, self.tables = space, list(tables)

    def evaluate(self, res_idx: np.ndarray, choices: np.ndarray) -> np.ndarray:
        res_idx = np.asarray(res_idx, dtype=np.int64)
        choices = np.asarray(choices, dtype=np.int64).reshape(len(res_idx), -1)
        out = np.empty((len(res_idx), 4))
        for r in np.unique(res_idx):
            m = res_idx == r
            out[m] = self.tables[int(r)].evaluate(choices[m])
        return out


@dataclass
class SearchResult:
    strategy: str
    res_index: int | None
    choices: tuple[int, ...] | None
    metrics: np.ndarray | None  # latency_ms, flash_bytes, peak_sram_bytes, macs (table figures)
    fitness: float | None
    evaluated: int
    feasible: int
    seconds: float
    minima: np.ndarray | None = None  # smallest latency/flash/sram/macs of the space (when infeasible)
    history: list[dict[str, Any]] = field(default_factory=list)
    #: best candidates, best first: (res index, choices, table metrics, fitness)
    candidates: list[tuple[int, tuple[int, ...], np.ndarray, float]] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.choices is not None


def feasible_mask(metrics: np.ndarray, limits: Limits) -> np.ndarray:
    m = np.atleast_2d(metrics)
    return ((m[:, LAT] <= limits.latency_ms) & (m[:, FLASH] <= limits.flash_bytes)
            & (m[:, SRAM] <= limits.peak_sram_bytes) & (m[:, MACS] >= limits.min_macs)
            & (m[:, MACS] <= limits.max_macs) & ~np.isnan(m).any(axis=1))


def violation(metrics: np.ndarray, limits: Limits) -> float:
    """Sum of relative excesses over the limits (0 when feasible): guides evolution towards feasibility."""
    m = metrics
    v = 0.0
    for val, lim in ((m[LAT], limits.latency_ms), (m[FLASH], limits.flash_bytes), (m[SRAM], limits.peak_sram_bytes),
                     (m[MACS], limits.max_macs)):
        if np.isfinite(lim) and val > lim:
            v += (val - lim) / lim
    if limits.min_macs > 0 and m[MACS] < limits.min_macs:
        v += (limits.min_macs - m[MACS]) / limits.min_macs
    return float(v)


# ---- registry ---------------------------------------------------------------------------------
Check = Callable[[Mapping[str, Any], Callable[[str], str]], None]  # (options, name of an option) → raise


@dataclass(frozen=True)
class StrategyInfo:
    """A registered strategy: the function, its tunable options with defaults, and what it supports."""

    name: str
    run: Callable[..., SearchResult]
    defaults: Mapping[str, Any]
    check: Check | None = None
    journal: bool = False  # accepts a Journal (resumable)
    fitness: bool = False  # accepts a custom fitness
    seeded: bool = True  # uses the random generator

    def options(self, given: Mapping[str, Any], flag: Callable[[str], str] = str) -> dict[str, Any]:
        """``given`` filled with the defaults, after checking every name applies and every value is valid.

        ``flag`` renders an option name in messages (the CLI passes ``lambda n: "--" + n``)."""
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            known = ", ".join(flag(k) for k in self.defaults) or "none"
            raise ValueError(f"{flag(unknown[0])} does not apply to strategy {self.name!r} (its options: {known})")
        opts = {**self.defaults, **given}
        if self.check is not None:
            self.check(opts, flag)
        return opts


_STRATEGIES: dict[str, StrategyInfo] = {}


def register_strategy(name: str, *, defaults: Mapping[str, Any] | None = None, check: Check | None = None,
                      journal: bool = False, fitness: bool = False, seeded: bool = True
                      ) -> Callable[[Callable[..., SearchResult]], Callable[..., SearchResult]]:
    def deco(fn: Callable[..., SearchResult]) -> Callable[..., SearchResult]:
        if name in _STRATEGIES:
            raise ValueError(f"search strategy {name!r} is already registered")
        _STRATEGIES[name] = StrategyInfo(name, fn, dict(defaults or {}), check, journal, fitness, seeded)
        return fn
    return deco


def list_strategies() -> list[str]:
    return list(_STRATEGIES)


def strategy_info(name: str) -> StrategyInfo:
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise KeyError(f"unknown search strategy {name!r}; known: {', '.join(_STRATEGIES)}") from None


def get_strategy(name: str) -> Callable[..., SearchResult]:
    return strategy_info(name).run


def _positive(opts: Mapping[str, Any], flag: Callable[[str], str], *names: str) -> None:
    for n in names:
        v = opts[n]
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{flag(n)}: expected a positive integer, got {v!r}")


def _fraction(opts: Mapping[str, Any], flag: Callable[[str], str], *names: str) -> None:
    for n in names:
        v = opts[n]
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0.0 <= float(v) <= 1.0:
            raise ValueError(f"{flag(n)}: expected a probability from 0 to 1, got {v!r}")


def _check_exhaustive(opts: Mapping[str, Any], flag: Callable[[str], str]) -> None:
    _positive(opts, flag, "top_k")


def _check_random(opts: Mapping[str, Any], flag: Callable[[str], str]) -> None:
    _positive(opts, flag, "samples", "chunk")


def _check_evolution(opts: Mapping[str, Any], flag: Callable[[str], str]) -> None:
    _positive(opts, flag, "cycles", "population", "sample_size", "final_sample_size")
    if opts["population"] > opts["cycles"]:
        raise ValueError(f"{flag('population')} {opts['population']} exceeds {flag('cycles')} {opts['cycles']}: "
                         "the cycles count every evaluation, the initial population included")
    _fraction(opts, flag, "extra_mutation", "local_moves")
    p = opts["penalty"]
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not (math.isfinite(float(p)) and float(p) >= 0):
        raise ValueError(f"{flag('penalty')}: expected a finite number >= 0, got {p!r}")


# ---- exhaustive --------------------------------------------------------------------------------
@register_strategy("exhaustive", defaults={"top_k": 64}, check=_check_exhaustive, seeded=False)
def exhaustive(evaluator: TableEvaluator, limits: Limits, rng: np.random.Generator | None = None, *,
               progress: Progress | None = None, top_k: int = 64) -> SearchResult:
    """Exact maximum-MACs architecture under the table figures; the ``top_k`` best of every resolution are
    kept in ``candidates`` (most MACs first, ties by lower latency) for confirmation with the full model."""
    _check_exhaustive({"top_k": top_k}, str)
    t0 = time.perf_counter()
    cands: list[tuple[float, float, int, tuple[int, ...], np.ndarray]] = []
    evaluated = feasible = 0
    n = len(evaluator.tables)
    for r, tab in enumerate(evaluator.tables):
        comb = combine(tab, limits)
        evaluated += comb.evaluated
        ok = feasible_mask(comb.metrics, limits) if len(comb.metrics) else np.zeros(0, bool)
        feasible += int(ok.sum())
        if ok.any():
            idx = np.nonzero(ok)[0]
            order = np.lexsort((comb.metrics[idx, LAT], -comb.metrics[idx, MACS]))[:top_k]
            for i in idx[order]:
                mt = comb.metrics[int(i)]
                cands.append((float(mt[MACS]), float(mt[LAT]), r, tuple(int(v) for v in comb.choices[int(i)]),
                              mt.copy()))
        if progress:
            progress(r + 1, n)
    secs = time.perf_counter() - t0
    if not cands:
        mins = np.min(np.stack([minima(t) for t in evaluator.tables]), axis=0)
        return SearchResult("exhaustive", None, None, None, None, evaluated, 0, secs, mins)
    cands.sort(key=lambda c: (-c[0], c[1], c[2], c[3]))
    best = cands[0]
    result = SearchResult("exhaustive", best[2], best[3], best[4], best[0], evaluated, feasible, secs)
    result.candidates = [(c[2], c[3], c[4], c[0]) for c in cands]
    return result


# ---- random ------------------------------------------------------------------------------------
@register_strategy("random", defaults={"samples": 100_000, "chunk": 200_000}, check=_check_random, fitness=True)
def random_search(evaluator: Evaluator, limits: Limits, rng: np.random.Generator, *, samples: int = 100_000,
                  fitness: Fitness | None = None, progress: Progress | None = None, chunk: int = 200_000
                  ) -> SearchResult:
    """Uniform random sampling of ``samples`` architectures (in chunks of ``chunk``), the baseline."""
    _check_random({"samples": samples, "chunk": chunk}, str)
    t0 = time.perf_counter()
    space = evaluator.space
    best: tuple[float, int, tuple[int, ...], np.ndarray] | None = None
    top: list[tuple[int, tuple[int, ...], np.ndarray, float]] = []
    feasible = done = 0
    while done < samples:
        n = min(chunk, samples - done)
        r, c = space.sample(rng, n)
        m = evaluator.evaluate(r, c)
        ok = feasible_mask(m, limits)
        feasible += int(ok.sum())
        if fitness is not None:
            cands = [int(i) for i in np.nonzero(ok)[0]]
        else:  # by MACs: only the chunk's best can improve on the best so far
            cands = [int(np.argmax(np.where(ok, m[:, MACS], -1.0)))] if ok.any() else []
        for i in cands:
            f = fitness(space.stage_config(int(r[i]), c[i])) if fitness is not None else float(m[i, MACS])
            top.append((int(r[i]), tuple(int(v) for v in c[i]), m[i].copy(), f))
            if best is None or f > best[0]:
                best = (f, int(r[i]), tuple(int(v) for v in c[i]), m[i].copy())
        if fitness is None and ok.sum() > 1:  # also keep runners-up of the chunk for confirmation
            for i in np.argsort(-np.where(ok, m[:, MACS], -1.0))[1:16]:
                if ok[i]:
                    top.append((int(r[i]), tuple(int(v) for v in c[i]), m[i].copy(), float(m[i, MACS])))
        done += n
        if progress:
            progress(done, samples)
    secs = time.perf_counter() - t0
    if best is None:
        return SearchResult("random", None, None, None, None, done, 0, secs)
    out = SearchResult("random", best[1], best[2], best[3], best[0], done, feasible, secs)
    out.candidates = sorted(top, key=lambda t: -t[3])[:256]
    return out


# ---- regularized evolution ---------------------------------------------------------------------
def _neighbors(space: Space, adjacent: bool = False) -> list[list[np.ndarray]]:
    """Per stage and choice: the choices that differ from it in exactly one attribute; with ``adjacent``,
    numeric attributes (width, depth, expand, kernel) only move to the next smaller or larger value."""
    out = []
    for s in space.stages:
        attrs = [(c.block, c.width, c.depth, c.expand, c.se, c.kernel) for c in s.choices]
        values = [sorted({a[k] for a in attrs}, key=str) if k in (0, 4) else sorted({a[k] for a in attrs})
                  for k in range(6)]
        per = []
        for a in attrs:
            hits = []
            for j, b in enumerate(attrs):
                diff = [k for k in range(6) if a[k] != b[k]]
                if len(diff) != 1:
                    continue
                k = diff[0]
                if adjacent and k in (1, 2, 3, 5) and abs(values[k].index(a[k]) - values[k].index(b[k])) != 1:
                    continue
                hits.append(j)
            per.append(np.array(hits, dtype=np.int64))
        out.append(per)
    return out


_EVOLUTION_DEFAULTS = {"cycles": 20_000, "population": 100, "sample_size": 5, "penalty": 5.0,
                       "extra_mutation": 0.5, "local_moves": 0.5, "final_sample_size": 25}


@register_strategy("evolution", defaults=_EVOLUTION_DEFAULTS, check=_check_evolution, journal=True, fitness=True)
def evolution(evaluator: Evaluator, limits: Limits, rng: np.random.Generator, *, cycles: int = 20_000,
              population: int = 100, sample_size: int = 5, fitness: Fitness | None = None,
              journal: Journal | None = None, progress: Progress | None = None, penalty: float = 5.0,
              extra_mutation: float = 0.5, local_moves: float = 0.5, final_sample_size: int = 25
              ) -> SearchResult:
    """Regularized evolution. ``cycles`` counts evaluations (the initial population included).

    Feasible candidates score their fitness (MACs by default). With the default MACs fitness an
    infeasible candidate scores ``MACs · (1 − penalty · violation)`` (violation = summed relative excess
    over the limits), so parents just over a limit can still breed and the population can cross narrow
    infeasible gaps (e.g. to a larger input resolution); with a custom fitness, infeasible candidates rank
    below all feasible ones by their violation. A child differs from its parent in one gene, plus one more
    with probability ``extra_mutation`` (repeatedly); a stage gene moves one attribute to its next value
    with probability ``local_moves``, else to any value. The tournament grows linearly from ``sample_size``
    to ``final_sample_size`` over the run. Only feasible candidates are ever returned. With a
    ``journal``, evaluations already on disk are replayed."""
    _check_evolution({"cycles": cycles, "population": population, "sample_size": sample_size, "penalty": penalty,
                      "extra_mutation": extra_mutation, "local_moves": local_moves,
                      "final_sample_size": final_sample_size}, str)
    t0 = time.perf_counter()
    space = evaluator.space
    nb_any, nb_adj = _neighbors(space), _neighbors(space, adjacent=True)
    n_res = len(space.resolutions)
    history: list[dict[str, Any]] = []

    def evaluate(r: int, c: tuple[int, ...]) -> dict[str, Any]:
        if journal is not None and journal.replaying:
            e = journal.next_replayed()
            if e["res"] != r or tuple(e["choices"]) != c:
                raise ValueError(f"journal {journal.path}: evaluation {e['i']} was architecture (res {e['res']}, "
                                 f"{e['choices']}) but this run asks for (res {r}, {list(c)}): the journal was written "
                                 "by different code; use a new journal")
            history.append(e)
            return e
        m = evaluator.evaluate(np.array([r]), np.array([c]))[0]
        ok = bool(feasible_mask(m, limits)[0])
        if ok:
            f = float(fitness(space.stage_config(r, c))) if fitness is not None else float(m[MACS])
            score = f
        else:
            f = -violation(m, limits)
            score = float(m[MACS]) * max(0.0, 1.0 - penalty * -f) if fitness is None else f
        e = {"i": len(history), "res": r, "choices": list(c), "metrics": [float(v) for v in m],
             "feasible": ok, "fitness": f, "score": score}
        if journal is not None:
            journal.append(e)
        history.append(e)
        return e

    def rank(e: dict[str, Any]) -> tuple[bool, float]:
        if fitness is None:  # MACs: one scale for feasible and penalized infeasible candidates
            return (True, float(e["score"]))
        return (bool(e["feasible"]), float(e["fitness"]))

    pop: deque[dict[str, Any]] = deque()
    while len(history) < min(population, cycles):
        r0, c0 = space.sample(rng, 1)
        pop.append(evaluate(int(r0[0]), tuple(int(v) for v in c0[0])))
        if progress and len(history) % 500 == 0:
            progress(len(history), cycles)
    while len(history) < cycles:
        # selection pressure grows over the run (explore first, then fine-tune near the limits)
        k = sample_size + int((final_sample_size - sample_size) * len(history) / cycles)
        picks = rng.choice(len(pop), size=min(max(k, 1), len(pop)), replace=False)
        parent = max((pop[int(i)] for i in picks), key=rank)
        r, c = int(parent["res"]), list(parent["choices"])
        n_mut = 1
        while n_mut < len(c) + 1 and rng.random() < extra_mutation:
            n_mut += 1
        for gene in rng.choice(len(c) + 1, size=n_mut, replace=False):
            if gene == 0:  # a neighbouring input resolution
                step = 1 if rng.random() < 0.5 else -1
                r = min(max(r + step, 0), n_res - 1) if n_res > 1 else r
            else:  # a stage choice differing in one attribute: a step to the next value, or any value
                nb = nb_adj if rng.random() < local_moves else nb_any
                opts = nb[gene - 1][c[gene - 1]]
                if len(opts):
                    c[gene - 1] = int(opts[int(rng.integers(0, len(opts)))])
        pop.append(evaluate(r, tuple(c)))
        pop.popleft()
        if progress and len(history) % 500 == 0:
            progress(len(history), cycles)
    if progress:
        progress(len(history), cycles)
    secs = time.perf_counter() - t0
    feas = [e for e in history if e["feasible"]]
    if not feas:
        return SearchResult("evolution", None, None, None, None, len(history), 0, secs, history=history)
    b = max(feas, key=lambda e: float(e["fitness"]))
    out = SearchResult("evolution", int(b["res"]), tuple(b["choices"]), np.array(b["metrics"]), float(b["fitness"]),
                       len(history), len(feas), secs, history=history)
    seen: set[tuple[int, tuple[int, ...]]] = set()
    for e in sorted(feas, key=lambda e: -float(e["fitness"])):
        arch = (int(e["res"]), tuple(int(v) for v in e["choices"]))
        if arch not in seen:
            seen.add(arch)
            out.candidates.append((arch[0], arch[1], np.array(e["metrics"]), float(e["fitness"])))
        if len(out.candidates) >= 256:
            break
    return out
