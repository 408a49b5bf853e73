"""The exact optimum of per-block spaces (issue 16, scope 1-2): the branch and bound of
:mod:`atomnet.search._exact_knapsack` yields every table-feasible architecture in the same total order as brute
force over the same block tables, and its confirmed winner is brute force's, on random per-block spaces and a
restricted ``mcunet``, several budgets, the runtimes tinyengine, tflm and xcube-ai; the tables' SRAM bound is a
lower bound of every planner's peak; space files with per-block options; ``atomnet search --space mcunet``."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from atomnet.boards import get_board
from atomnet.cli import main
from atomnet.cost import LatencyModel, cost_model, load_latency_model
from atomnet.db import AtomDB
from atomnet.errors import InputError
from atomnet.search import (
    BlockOption,
    BlockSpace,
    BlockStage,
    Limits,
    get_any_space,
    get_block_space,
    meets,
    restrict_to_subspace,
    search_block_space,
)
from atomnet.search._exact_blocks import BlockTables, block_spec, block_tables
from atomnet.search._exact_knapsack import Candidate, ordered_architectures

BOARD = get_board("stm32h743")
RUNTIMES = ("tinyengine", "tflm", "xcube-ai")


@pytest.fixture(scope="module")
def lm(public_db_path: Path) -> LatencyModel:
    return load_latency_model(BOARD, AtomDB(public_db_path))


def _all(space: BlockSpace, lm: LatencyModel, runtime: str) -> list[BlockTables]:
    return [block_tables(space, lm, runtime, w, r) for w in range(len(space.width_multipliers))
            for r in range(len(space.resolutions))]


def _brute(built: list[BlockTables], limits: Limits) -> list[Candidate]:
    """Every table-feasible architecture, enumerated, in the documented order: most MACs, lowest latency,
    lowest Flash, sub-space index, configuration indices (latency with the documented 1e-9 slack)."""
    lat = limits.latency_ms + 1e-9 + 1e-9 * limits.latency_ms if np.isfinite(limits.latency_ms) else np.inf
    out = []
    for si, bt in enumerate(built):
        t = bt.tables
        ch = np.array(list(itertools.product(*(range(s.n_choice) for s in t.stages))), dtype=np.int64)
        fig = t.evaluate(ch)
        fig[:, 2] = bt.sram_bound(ch)
        ok = ((fig[:, 0] <= lat) & (fig[:, 1] <= limits.flash_bytes) & (fig[:, 2] <= limits.peak_sram_bytes)
              & (fig[:, 3] >= limits.min_macs) & (fig[:, 3] <= limits.max_macs))
        out += [Candidate(si, tuple(int(x) for x in c), (float(f[0]), float(f[1]), float(f[2]), float(f[3])))
                for c, f in zip(ch[ok], fig[ok], strict=True)]
    out.sort(key=lambda c: (-c.figures[3], c.figures[0], c.figures[1], c.sub, c.choices))
    return out


def _confirm(space: BlockSpace, built: list[BlockTables], order: list[Candidate], lm: LatencyModel, runtime: str,
             limits: Limits) -> tuple[int, int, tuple[tuple[int, ...], ...]] | None:
    """Brute force's winner: the first candidate whose full cost meets the limits (wm, res, arch)."""
    n_res = len(space.resolutions)
    for c in order:
        wm, res = divmod(c.sub, n_res)
        arch = tuple(built[c.sub].configs[i][x] for i, x in enumerate(c.choices[1:]))
        if meets(cost_model(block_spec(space, wm, res, arch), BOARD, runtime=runtime, latency_model=lm), limits):
            return wm, res, arch
    return None


def _budgets(order: list[Candidate]) -> list[Limits]:
    """Binding budgets from the unconstrained figures: quantiles of latency, Flash and SRAM."""
    f = np.array([c.figures for c in order])
    q = lambda col, p: float(np.quantile(f[:, col], p))  # noqa: E731
    return [Limits(q(0, 0.3), q(1, 0.7), q(2, 0.6)),
            Limits(np.inf, q(1, 0.4), q(2, 0.5)),
            Limits(q(0, 0.5), np.inf, q(2, 0.7), min_macs=q(3, 0.2), max_macs=q(3, 0.8))]


def _random_space(seed: int) -> BlockSpace:
    rng = np.random.default_rng(seed)
    stages = []
    for _ in range(int(rng.integers(2, 4))):
        opts = {BlockOption("mbconv", int(rng.choice([3, 5, 7])), float(rng.choice([1, 3, 6])),
                            bool(rng.random() < 0.3)) for _ in range(int(rng.integers(2, 4)))}
        depths = tuple(sorted(int(d) for d in rng.choice([1, 2, 3], size=int(rng.integers(1, 3)), replace=False)))
        stages.append(BlockStage(int(rng.choice([8, 16, 24, 32])), int(rng.choice([1, 2])), depths,
                                 tuple(sorted(opts, key=lambda o: o.label()))))
    return BlockSpace(f"random{seed}", 16, 8, tuple(stages), (0.5, 1.0), (32, 48))


def _mcunet_small() -> BlockSpace:
    """mcunet at one width multiplier and resolution: the first stage at depth 3 with two options (so later
    blocks permute: ties), the others at depth 2 with three options; 8 x 9^4 x 3 = 157,464 architectures."""
    sp = get_block_space("mcunet")
    assert sp is not None
    st = [dataclasses.replace(sp.stages[0], depths=(3,), options=sp.stages[0].options[:2])]
    st += [dataclasses.replace(s, depths=(2,), options=s.options[:3]) for s in sp.stages[1:-1]]
    st += [dataclasses.replace(sp.stages[-1], options=sp.stages[-1].options[:3])]
    return dataclasses.replace(sp, stages=tuple(st), width_multipliers=(0.5,), resolutions=(96,))


def _check(space: BlockSpace, lm: LatencyModel, runtime: str) -> int:
    built = _all(space, lm, runtime)
    free = _brute(built, Limits())
    assert len(free) == space.size()
    checked = 0
    for limits in _budgets(free):
        want = _brute(built, limits)
        assert want, limits
        tabs, adds, peaks = [b.tables for b in built], [b.sram_add for b in built], [b.sram_peaks for b in built]
        got = ordered_architectures(tabs, limits, k=10**9, sram_add=adds, sram_peaks=peaks)
        assert list(got) == want  # every one, in order
        # few per round: many rounds, each continuing below the last
        few = ordered_architectures(tabs, limits, k=2, sram_add=adds, sram_peaks=peaks)
        assert list(itertools.islice(few, 300)) == want[:300]
        res = search_block_space(space, BOARD, lm, limits, runtime)
        win = _confirm(space, built, want, lm, runtime, limits)
        assert (None if res.arch is None else (res.wm_index, res.res_index, res.arch)) == win
        if res.cost is not None:
            assert meets(res.cost, limits) and res.table_macs == res.cost.macs
        checked += len(want)
    return checked


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("seed", [0, 1, pytest.param(2, marks=pytest.mark.slow)])
def test_exact_equals_brute_force_on_random_block_spaces(seed: int, runtime: str, lm: LatencyModel) -> None:
    space = _random_space(seed)
    assert 10 <= space.size() <= 10**6
    assert _check(space, lm, runtime) > 0


@pytest.mark.parametrize("runtime", [pytest.param("tinyengine", marks=pytest.mark.slow),
                                     pytest.param("tflm", marks=pytest.mark.slow), "xcube-ai"])
def test_exact_equals_brute_force_on_a_restricted_mcunet(runtime: str, lm: LatencyModel) -> None:
    space = _mcunet_small()
    assert space.size() == 8 * 9**4 * 3
    assert _check(space, lm, runtime) > 0


def test_ties_are_ordered_by_configuration(lm: LatencyModel) -> None:
    """Permuted later blocks have bit-identical rows: the order among them is the configuration indices'."""
    space = _mcunet_small()
    built = _all(space, lm, "tinyengine")
    got = list(ordered_architectures([b.tables for b in built], Limits(), k=10**9, sram_add=[b.sram_add for b in built],
                                     sram_peaks=[b.sram_peaks for b in built]))
    ties = [(a, b) for a, b in itertools.pairwise(got) if a.figures == b.figures]
    assert len(ties) > 1000
    assert all(a.choices < b.choices for a, b in ties)
    # stage 1 configurations 1 and 2 are (0, 0, 1) and (0, 1, 0): the later blocks permuted, the same row
    cfg = built[0].configs[0]
    assert cfg[1] == (0, 0, 1) and cfg[2] == (0, 1, 0)
    assert np.array_equal(built[0].tables.stages[1].cost[0, 1], built[0].tables.stages[1].cost[0, 2])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_sram_bound_is_below_the_planner_peak(runtime: str, lm: LatencyModel) -> None:
    """The block tables' SRAM bound (largest peak part + additive parts) never exceeds the planner's peak, and
    is at least the per-stage maximum; latency, Flash and MACs equal the full cost model's."""
    sp = get_block_space("mcunet")
    assert sp is not None
    rng = np.random.default_rng(7)
    for wm, res in ((0, 0), (3, 5), (8, 11)):
        bt = block_tables(sp, lm, runtime, wm, res)
        for _ in range(4):
            ch = np.array([[0] + [int(rng.integers(0, t.n_choice)) for t in bt.tables.stages[1:]]])
            m = bt.tables.evaluate(ch)[0]
            lb = float(bt.sram_bound(ch)[0])
            arch = tuple(bt.configs[i][c] for i, c in enumerate(ch[0, 1:]))
            rep = cost_model(block_spec(sp, wm, res, arch), BOARD, runtime=runtime, latency_model=lm)
            assert m[2] <= lb <= rep.peak_sram_bytes
            assert m[1] == rep.flash_bytes and m[3] == rep.macs
            assert m[0] == pytest.approx(rep.latency_ms, rel=1e-12)


SPACE_FILE = {
    "kind": "blocks", "name": "tiny-blocks", "stem_width": 16, "first_width": 8,
    "width_multipliers": [0.5, 1.0], "resolutions": [48, 64], "num_classes": 10,
    "stages": [
        {"width": 16, "stride": 2, "depths": [1, 2],
         "options": [{"block": "mbconv", "kernel": 3, "expand": 3}, {"kernel": 5, "expand": 6, "se": True}]},
        {"width": 24, "stride": 2, "depths": [2, 3], "kernels": [3, 7], "expands": [3, 6]},
        {"width": 32, "stride": 1, "depths": [1], "options": [{"kernel": 3, "expand": 6}]},
    ],
}


def test_space_file_with_per_block_options_searched_exactly(tmp_path: Path, lm: LatencyModel) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(SPACE_FILE))
    space = get_any_space(str(path))
    assert isinstance(space, BlockSpace) and space.num_classes == 10
    assert space.stages[1].options[1] == BlockOption("mbconv", 3, 6.0, False)
    assert space.size() == 2 * 2 * (2 + 4) * (4**2 + 4**3) * 1
    assert _check(space, lm, "xcube-ai") > 0


@pytest.mark.parametrize(("change", "message"), [
    ({"stages": [{"width": 16, "stride": 2, "depths": [1], "options": [{"kernel": 4}]}]},
     "stages[0].options[0].kernel: expected one of 1, 3, 5, 7, got 4"),
    ({"stages": [{"width": 16, "stride": 2, "options": [{}]}]}, "stages[0]: missing field 'depths'"),
    ({"stages": [{"width": 16, "stride": 2, "depths": [1], "options": [{}], "colour": 1}]},
     "stages[0]: unknown field(s) ['colour']"),
    ({"resolutions": [64, 64]}, "resolutions: values repeat"),
    ({"stages": [{"width": 16, "stride": 3, "depths": [1], "options": [{}]}]}, "stages[0].stride: expected 1 or 2"),
    ({"stages": [{"width": 16, "stride": 1, "depths": [1], "options": [{"block": "nope"}]}]},
     "stages[0].options[0].block"),
])
def test_space_file_errors_name_the_file_and_field(tmp_path: Path, change: dict[str, object], message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**SPACE_FILE, **change}))
    with pytest.raises(InputError) as e:
        get_any_space(str(path))
    assert str(path) in str(e.value) and message in str(e.value)


def test_subspace_restriction() -> None:
    sp = get_block_space("mcunet")
    assert sp is not None
    sub = restrict_to_subspace(sp, "w0.5-r160")
    assert isinstance(sub, BlockSpace) and sub.width_multipliers == (0.5,) and sub.resolutions == (160,)
    assert sub.size() * 9 * 12 == sp.size()
    with pytest.raises(InputError, match=r"width multipliers w0\.2"):
        restrict_to_subspace(sp, "w0.55-r160")
    with pytest.raises(InputError, match="expected w<width multiplier>-r<resolution>"):
        restrict_to_subspace(sp, "r160")
    hybrid = get_any_space("hybrid")
    assert restrict_to_subspace(hybrid, "w1-r160").resolutions == (160,)


def test_cli_search_mcunet(public_db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(public_db_path)]
    assert main([*db, "search", "--space", "mcunet", "--sram", "256KB"]) == 2
    err = capsys.readouterr().err
    assert "space mcunet has 21,149,413,138,780,456,247,172 architectures (too many to enumerate): use --strategy " \
           "exact" in err
    out_spec = tmp_path / "best.json"
    assert main([*db, "search", "--space", "mcunet", "--strategy", "exact", "--subspace", "w0.3-r96", "--sram",
                 "128KB", "--flash", "512KB", "--latency", "100ms", "--out", str(out_spec), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    sp = get_block_space("mcunet")
    assert sp is not None
    assert d["found"] and d["strategy"] == "exact" and d["space"] == "mcunet"
    assert d["evaluated"] == sp.size() // (9 * 12)
    lim = Limits(100.0, 512 * 1024, 128 * 1024)
    assert d["cost"]["peak_sram_bytes"] <= lim.peak_sram_bytes and d["cost"]["latency_ms"] <= 100.0
    want = search_block_space(restrict_to_subspace(sp, "w0.3-r96"), BOARD,  # type: ignore[arg-type]
                              load_latency_model(BOARD, AtomDB(public_db_path)), lim)
    assert want.spec is not None and d["spec"] == want.spec.to_dict()
    assert json.loads(out_spec.read_text()) == d["spec"]
    assert main([*db, "search", "--space", "mcunet", "--strategy", "exact", "--pareto"]) == 2
    assert "--pareto does not apply to the per-block space mcunet" in capsys.readouterr().err
