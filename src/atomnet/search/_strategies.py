"""Search strategies over a :class:`Space`: classes registered by name, each owning its seeded RNG.

* ``exhaustive`` — the exact maximum-MACs architecture meeting the limits over the whole space,
  by vectorized combination of per-stage tables (:mod:`atomnet.search._combine`).
* ``evolution`` — regularized evolution (Real et al., 2019): population, tournament selection,
  mutation of one gene, removal of the oldest; fitness is MACs by default or any ``spec → float``.
* ``random`` — uniform random sampling, the baseline.

A strategy is constructed with its seed and options, both checked there (an unknown or inapplicable option
is an error), and creates its own :class:`numpy.random.Generator` from the seed (never the global RNG,
DESIGN principle 6). :meth:`Strategy.run` asks an :class:`Evaluator` for figures and returns a
:class:`SearchResult`. A new strategy is one :func:`register_strategy` of a :class:`Strategy` subclass.

>>> s = get_strategy("evolution")(seed=3, cycles=500, population=50)
>>> s.options["cycles"], s.options["sample_size"], s.seed
(500, 5, 3)
>>> get_strategy("exhaustive")(cycles=5)
Traceback (most recent call last):
atomnet.errors.InputError: cycles does not apply to strategy 'exhaustive' (its options: top_k)
"""

from __future__ import annotations

import math
import numbers
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import NDArray

from atomnet.errors import InputError, UnknownNameError
from atomnet.search._evaluate import Evaluator, Indices
from atomnet.search._evolve import Budget
from atomnet.search._records import Candidate, Evaluation, MetricArrays, SearchResult
from atomnet.search._space import Space

Progress = Callable[[int, int], None]  # (done, total)
Flag = Callable[[str], str]  # renders an option name in messages (the CLI: lambda n: "--" + n)
OptionValue = int | float  # what a strategy option holds (counts, fractions, weights)


@dataclass(frozen=True)
class Option:
    """One tunable option of a strategy: its default, what values it takes, and a help line.

    ``kind`` is ``"count"`` (an integer >= 1), ``"fraction"`` (a probability from 0 to 1) or ``"weight"``
    (a finite number >= 0); ``cli`` options get an ``atomnet search`` flag."""

    default: int | float
    kind: str
    help: str
    cli: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _EXPECTED:
            raise ValueError(f"option kind {self.kind!r}: expected one of {', '.join(_EXPECTED)}")

    def check(self, name: str, value: object, flag: Flag) -> OptionValue:
        """``value`` if it is valid for this option (a number: numpy scalars become Python numbers), else an
        :class:`~atomnet.errors.InputError` naming the option with ``flag``."""
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            v: OptionValue = value if isinstance(value, (int, float)) else (
                int(value) if isinstance(value, numbers.Integral) else float(value))
            if _VALID[self.kind](v):
                return v
        raise InputError(f"{flag(name)}: expected {_EXPECTED[self.kind]}, got {value!r}")


#: per option kind: what a valid value is (in words, for messages) and the test of a number
_EXPECTED = {"count": "a positive integer", "fraction": "a probability from 0 to 1", "weight": "a finite number >= 0"}
_VALID: dict[str, Callable[[OptionValue], bool]] = {
    "count": lambda v: isinstance(v, int) and v >= 1,
    "fraction": lambda v: 0.0 <= v <= 1.0,
    "weight": lambda v: math.isfinite(v) and v >= 0,
}


class Strategy(ABC):
    """Base of every search strategy. Subclasses set the class attributes and implement :meth:`run`."""

    name: ClassVar[str]
    options_spec: ClassVar[Mapping[str, Option]] = {}
    #: uses randomness: takes a ``seed`` and owns a generator made from it
    seeded: ClassVar[bool] = True
    #: asks for evaluations one at a time (:meth:`Evaluator.evaluate`), so a journal can replay them
    resumable: ClassVar[bool] = False
    #: maximizes the evaluator's custom fitness when it has one (otherwise MACs only)
    custom_fitness: ClassVar[bool] = False

    def __init__(self, *, seed: int | None = None, **options: object) -> None:
        self.options: dict[str, OptionValue] = self.check_options(options)
        if seed is not None and not self.seeded:
            raise InputError(f"seed does not apply to strategy {self.name!r} (it uses no randomness)")
        if self.seeded:
            seed = 0 if seed is None else seed
            if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
                raise InputError(f"seed: expected an integer >= 0, got {seed!r}")
            seed = int(seed)
        self.seed: int | None = seed
        self.rng: np.random.Generator | None = np.random.default_rng(seed) if seed is not None else None

    @classmethod
    def check_options(cls, given: Mapping[str, object], flag: Flag = str) -> dict[str, OptionValue]:
        """``given`` filled with the defaults, after checking every name applies and every value is valid."""
        unknown = sorted(set(given) - set(cls.options_spec))
        if unknown:
            known = ", ".join(flag(k) for k in cls.options_spec) or "none"
            raise InputError(f"{flag(unknown[0])} does not apply to strategy {cls.name!r} (its options: {known})")
        opts = {k: o.check(k, given.get(k, o.default), flag) for k, o in cls.options_spec.items()}
        cls.check_together(opts, flag)
        return opts

    @classmethod
    def check_together(cls, options: Mapping[str, OptionValue], flag: Flag) -> None:
        """Checks across options (each one is valid on its own); raise InputError naming them with ``flag``."""
        del options, flag  # none by default

    def generator(self) -> np.random.Generator:
        if self.rng is None:
            raise TypeError(f"strategy {self.name!r} uses no randomness")
        return self.rng

    @abstractmethod
    def run(self, evaluator: Evaluator, progress: Progress | None = None) -> SearchResult:
        """Search ``evaluator``'s space under its limits."""


# ---- registry ---------------------------------------------------------------------------------
_STRATEGIES: dict[str, type[Strategy]] = {}
S = TypeVar("S", bound=type[Strategy])


def register_strategy(cls: S) -> S:
    """Class decorator: register a :class:`Strategy` subclass under its ``name`` (loud on duplicates)."""
    if cls.name in _STRATEGIES:
        raise ValueError(f"search strategy {cls.name!r} is already registered")
    _STRATEGIES[cls.name] = cls
    return cls


def list_strategies() -> list[str]:
    return list(_STRATEGIES)


def get_strategy(name: str) -> type[Strategy]:
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise UnknownNameError(f"unknown search strategy {name!r}; known: {', '.join(_STRATEGIES)}") from None


# ---- exhaustive --------------------------------------------------------------------------------
@register_strategy
class Exhaustive(Strategy):
    """Exact maximum-MACs architecture under the table figures; the ``top_k`` best of every resolution are
    kept in ``candidates`` (most MACs first, ties by lower latency) for confirmation with the full model."""

    name = "exhaustive"
    options_spec: ClassVar[Mapping[str, Option]] = {
        "top_k": Option(64, "count", "best architectures kept per resolution for confirmation")}
    seeded = False

    def run(self, evaluator: Evaluator, progress: Progress | None = None) -> SearchResult:
        t0 = time.perf_counter()
        top_k = int(self.options["top_k"])
        limits = evaluator.limits
        cands: list[Candidate] = []
        evaluated = feasible = 0
        n = evaluator.resolutions
        for r in range(n):
            comb = evaluator.combine(r)
            evaluated += comb.evaluated
            ok = comb.metrics.within(limits)
            feasible += int(ok.sum())
            idx = np.nonzero(ok)[0]
            order = np.lexsort((comb.metrics.latency_ms[idx], -comb.metrics.macs[idx]))[:top_k]
            for i in idx[order]:
                m = comb.metrics.row(int(i))
                cands.append(Candidate(r, tuple(int(v) for v in comb.choices[int(i)]), m, True, m.macs))
            if progress:
                progress(r + 1, n)
        secs = time.perf_counter() - t0
        if not cands:
            return SearchResult(self.name, None, evaluated, 0, secs, minima=evaluator.minima())
        cands.sort(key=lambda c: (-c.fitness, c.metrics.latency_ms, c.resolution_index, c.choices))
        return SearchResult(self.name, cands[0], evaluated, feasible, secs, candidates=tuple(cands))


# ---- random ------------------------------------------------------------------------------------
@register_strategy
class RandomSearch(Strategy):
    """Uniform random sampling of ``samples`` architectures (in chunks of ``chunk``), the baseline."""

    name = "random"
    options_spec: ClassVar[Mapping[str, Option]] = {
        "samples": Option(1_000_000, "count", "architectures sampled", cli=True),
        "chunk": Option(200_000, "count", "architectures costed per array operation")}
    custom_fitness = True

    def run(self, evaluator: Evaluator, progress: Progress | None = None) -> SearchResult:
        t0 = time.perf_counter()
        rng, samples, chunk = self.generator(), int(self.options["samples"]), int(self.options["chunk"])
        top: list[Candidate] = []
        feasible = done = 0
        while done < samples:
            n = min(chunk, samples - done)
            r, c = evaluator.space.sample(rng, n)
            m = evaluator.metrics(r, c)
            ok = m.within(evaluator.limits)
            feasible += int(ok.sum())
            top += self._keep(evaluator, r, c, m, ok)
            done += n
            if progress:
                progress(done, samples)
        secs = time.perf_counter() - t0
        best = None
        for cand in top:  # the first of the highest fitness, in sampling order
            if best is None or cand.fitness > best.fitness:
                best = cand
        if best is None:
            return SearchResult(self.name, None, done, 0, secs)
        return SearchResult(self.name, best, done, feasible, secs,
                            candidates=tuple(sorted(top, key=lambda t: -t.fitness)[:256]))

    @staticmethod
    def _keep(evaluator: Evaluator, r: Indices, c: Indices, m: MetricArrays, ok: NDArray[np.bool_]
              ) -> list[Candidate]:
        """The chunk's candidates worth keeping: every feasible one with a custom fitness; by MACs only the
        chunk's best (only it can improve on the best so far), then up to 15 runners-up for confirmation."""
        if evaluator.has_custom_fitness:
            return [evaluator.judge(int(r[i]), tuple(int(v) for v in c[i]), m.row(int(i)))
                    for i in np.nonzero(ok)[0]]
        if not ok.any():
            return []
        by_macs = np.where(ok, m.macs, -1.0)
        keep = [int(np.argmax(by_macs))]
        if ok.sum() > 1:
            keep += [int(i) for i in np.argsort(-by_macs)[1:16] if ok[i]]
        return [evaluator.judge(int(r[i]), tuple(int(v) for v in c[i]), m.row(i)) for i in keep]


# ---- regularized evolution ---------------------------------------------------------------------
def _neighbors(space: Space, adjacent: bool = False) -> list[list[Indices]]:
    """Per stage and choice: the choices that differ from it in exactly one attribute; with ``adjacent``,
    numeric attributes (width, depth, expand, kernel) only move to the next smaller or larger value."""
    out = []
    for s in space.stages:
        attrs = [(c.block, c.width, c.depth, c.expand, c.se, c.kernel) for c in s.choices]
        values = [sorted({a[k] for a in attrs}, key=str) if k in (0, 4) else sorted({a[k] for a in attrs})
                  for k in range(6)]

        def step_ok(a: tuple[Any, ...], b: tuple[Any, ...], k: int, values: list[list[Any]] = values) -> bool:
            return not (adjacent and k in (1, 2, 3, 5)
                        and abs(values[k].index(a[k]) - values[k].index(b[k])) != 1)

        per = []
        for a in attrs:
            hits = []
            for j, b in enumerate(attrs):
                diff = [k for k in range(6) if a[k] != b[k]]
                if len(diff) == 1 and step_ok(a, b, diff[0]):
                    hits.append(j)
            per.append(np.array(hits, dtype=np.int64))
        out.append(per)
    return out


@register_strategy
class Evolution(Strategy):
    """Regularized evolution. ``cycles`` counts evaluations (the initial population included).

    Feasible candidates score their fitness (MACs by default). With the default MACs fitness an
    infeasible candidate scores ``MACs · (1 − penalty · violation)`` (violation = summed relative excess
    over the limits), so parents just over a limit can still breed and the population can cross narrow
    infeasible gaps (e.g. to a larger input resolution); with a custom fitness, infeasible candidates rank
    below all feasible ones by their violation. A child differs from its parent in one gene, plus one more
    with probability ``extra_mutation`` (repeatedly); a stage gene moves one attribute to its next value
    with probability ``local_moves``, else to any value. The tournament grows linearly from ``sample_size``
    to ``final_sample_size`` over the run. A child met before costs no evaluation and joins no population
    (:class:`~atomnet.search._evolve.Budget`): ``cycles`` counts distinct architectures, and the population
    holds no clones, so lineages at other resolutions survive. The default penalty (2) is mild enough that
    parents just over a limit keep breeding across to the optimum's basin on every seed 0-9 of
    ``benchmarks/bench_evolution.py`` (with 5 one seed in three fell below 99 %). Only feasible candidates are
    ever returned. Every evaluation is asked of the evaluator in turn, so a journaled evaluator replays a
    killed run exactly."""

    name = "evolution"
    options_spec: ClassVar[Mapping[str, Option]] = {
        "cycles": Option(20_000, "count", "evaluations, the initial population included", cli=True),
        "population": Option(100, "count", "population size", cli=True),
        "sample_size": Option(5, "count", "tournament size at the start"),
        "penalty": Option(2.0, "weight", "weight of the relative excess over a limit (MACs fitness)"),
        "extra_mutation": Option(0.5, "fraction", "probability of mutating one more gene (repeatedly)"),
        "local_moves": Option(0.5, "fraction", "probability that a stage gene moves to its next value"),
        "final_sample_size": Option(25, "count", "tournament size at the end"),
    }
    resumable = True
    custom_fitness = True

    @classmethod
    def check_together(cls, options: Mapping[str, OptionValue], flag: Flag) -> None:
        if options["population"] > options["cycles"]:
            raise InputError(f"{flag('population')} {options['population']} exceeds {flag('cycles')} "
                             f"{options['cycles']}: the cycles count every evaluation, the initial population "
                             "included")

    def run(self, evaluator: Evaluator, progress: Progress | None = None) -> SearchResult:
        t0 = time.perf_counter()
        cycles = int(self.options["cycles"])
        history: list[Evaluation] = []

        def evaluate(r: int, c: tuple[int, ...]) -> Candidate:
            cand = evaluator.evaluate(r, c)
            history.append(Evaluation(len(history), cand))
            if progress and len(history) % 500 == 0:
                progress(len(history), cycles)
            return cand

        rng = self.generator()
        budget = Budget(evaluate, cycles)
        pop: deque[Candidate] = deque()
        for _ in range(min(int(self.options["population"]), cycles)):
            r0, c0 = evaluator.space.sample(rng, 1)
            cand = budget(int(r0[0]), tuple(int(v) for v in c0[0]))
            if cand is not None:
                pop.append(cand)
        rank = self._rank(evaluator)
        neighbours = _neighbors(evaluator.space), _neighbors(evaluator.space, adjacent=True)
        repeats = 0  # children already evaluated cost nothing; bounded so that a tiny space still ends
        while budget.left > 0 and repeats < 10 * cycles:
            parent = self._select(pop, rank, cycles - budget.left, cycles)
            before = budget.left
            child = budget(*self._mutate(parent, evaluator.resolutions, *neighbours))
            assert child is not None
            if budget.left == before:  # an architecture met before: no new member (the population stays diverse)
                repeats += 1
                continue
            pop.append(child)
            pop.popleft()
        if progress:
            progress(len(history), cycles)
        return self._result(history, time.perf_counter() - t0)

    def _rank(self, evaluator: Evaluator) -> Callable[[Candidate], tuple[bool, float]]:
        if evaluator.has_custom_fitness:  # infeasible candidates below all feasible ones, by their violation
            return lambda c: (c.feasible, c.fitness)
        penalty = float(self.options["penalty"])

        def by_macs(c: Candidate) -> tuple[bool, float]:  # one scale for feasible and penalized infeasible ones
            return True, c.fitness if c.feasible else c.metrics.macs * max(0.0, 1.0 - penalty * -c.fitness)
        return by_macs

    def _select(self, pop: deque[Candidate], rank: Callable[[Candidate], tuple[bool, float]], done: int,
                cycles: int) -> Candidate:
        """Tournament: the best of ``k`` distinct members; ``k`` grows over the run (explore first, then
        fine-tune near the limits)."""
        lo, hi = int(self.options["sample_size"]), int(self.options["final_sample_size"])
        k = lo + int((hi - lo) * done / cycles)
        picks = self.generator().choice(len(pop), size=min(max(k, 1), len(pop)), replace=False)
        return max((pop[int(i)] for i in picks), key=rank)

    def _mutate(self, parent: Candidate, n_res: int, nb_any: list[list[Indices]],
                nb_adj: list[list[Indices]]) -> tuple[int, tuple[int, ...]]:
        """A child of ``parent``: one gene changed, more with probability ``extra_mutation`` each."""
        rng = self.generator()
        r, c = parent.resolution_index, list(parent.choices)
        n_mut = 1
        while n_mut < len(c) + 1 and rng.random() < float(self.options["extra_mutation"]):
            n_mut += 1
        for gene in rng.choice(len(c) + 1, size=n_mut, replace=False):
            if gene == 0:  # a neighbouring input resolution
                step = 1 if rng.random() < 0.5 else -1
                r = min(max(r + step, 0), n_res - 1) if n_res > 1 else r
            else:  # a stage choice differing in one attribute: a step to the next value, or any value
                nb = nb_adj if rng.random() < float(self.options["local_moves"]) else nb_any
                opts = nb[gene - 1][c[gene - 1]]
                if len(opts):
                    c[gene - 1] = int(opts[int(rng.integers(0, len(opts)))])
        return r, tuple(c)

    def _result(self, history: list[Evaluation], secs: float) -> SearchResult:
        feas = [e.candidate for e in history if e.candidate.feasible]
        if not feas:
            return SearchResult(self.name, None, len(history), 0, secs, history=tuple(history))
        best = max(feas, key=lambda c: c.fitness)
        seen: set[tuple[int, tuple[int, ...]]] = set()
        cands: list[Candidate] = []
        for cand in sorted(feas, key=lambda c: -c.fitness):
            if cand.architecture not in seen:
                seen.add(cand.architecture)
                cands.append(cand)
            if len(cands) >= 256:
                break
        return SearchResult(self.name, best, len(history), len(feas), secs, tuple(cands), tuple(history))
