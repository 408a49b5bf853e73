"""Registry contract suites (DESIGN principle 12; issue 11, scope 8): every registered SRAM planner, lowering,
block type, search strategy, search space, measurement runner and single-op model builder runs one shared test.

The parameters are read from the registries' ``list_*()`` at collection time, so an item registered later is
tested without editing this file. (Runtimes have their own suite in ``test_runtimes.py``.) Each registry is also
loud on duplicates: registering a taken name raises and leaves the registry unchanged."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from atomnet.boards import get_board
from atomnet.cost import cost_model, get_planner, list_planners, load_latency_model
from atomnet.cost._sram import Planner, register_planner  # not exported by atomnet.cost
from atomnet.measure import (
    SweepEntry,
    Variant,
    get_builder,
    get_runner,
    list_builders,
    list_runners,
    register_builder,
    register_runner,
    run_campaign,
)
from atomnet.ops import Op
from atomnet.search import (
    Limits,
    get_space,
    get_strategy,
    list_spaces,
    list_strategies,
    register_space,
    register_strategy,
    run_search,
    space_from_dict,
)
from atomnet.spec import (
    BlockSpec,
    BlockType,
    ModelSpec,
    SpecError,
    StageSpec,
    from_stage_config,
    get_block,
    list_blocks,
    list_lowerings,
    lower,
    register_block,
    register_lowering,
    spec_macs,
)
from atomnet.spec._lower import Lowering
from atomnet.zoo import get_zoo

REPO = Path(__file__).resolve().parents[1]
BOARD = get_board("stm32h743")
#: a few zoo models of different shapes: MCUNet (inverted residuals, kernels 3-7), AtomNet (SEP, ConvNext + SE),
#: a 2-class VWW model
MODELS = ("mcunet-in2", "atomnet-256kb", "mcunet-vww0")


# ---- lowerings -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("runtime", list_lowerings())
@pytest.mark.parametrize("model", MODELS)
def test_lowering_contract(runtime: str, model: str) -> None:
    """A lowering yields a graph in execution order: every tensor written once, read only after it is written,
    from the spec's input to a (classes, 1, 1) output; it keeps at least the spec's MACs."""
    spec = get_zoo(model)
    g = lower(spec, runtime)
    assert g.runtime == runtime and g.layers
    assert [t.id for t in g.tensors] == list(range(len(g.tensors)))
    assert g.tensors[g.input].shape == (spec.in_channels, *spec.resolution)
    assert g.tensors[g.output].shape == (spec.num_classes, 1, 1)
    written = {g.input}
    for layer in g.layers:
        assert set(layer.inputs) <= written, layer
        assert layer.output not in written, layer  # every tensor has one producer
        written.add(layer.output)
        assert layer.op.kind and layer.op.macc >= 0
    assert g.layers[-1].output == g.output and written == set(range(len(g.tensors)))
    assert sum(op.macc for op in g.ops) >= spec_macs(spec)
    assert lower(spec, runtime) == g  # deterministic


def test_unknown_lowering_names_the_known_ones() -> None:
    with pytest.raises(ValueError) as e:
        lower(get_zoo("mcunet-in2"), "no-such-runtime")
    assert str(e.value).endswith(", ".join(list_lowerings()))


# ---- SRAM planners ---------------------------------------------------------------------------------------------

def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@pytest.mark.parametrize("runtime", list_planners())
@pytest.mark.parametrize("model", MODELS)
def test_planner_contract(runtime: str, model: str) -> None:
    """A plan places every buffer that lives at all; buffers alive at the same time never share bytes; the
    arena is the highest end offset and holds the largest output it stores, the peak is the arena plus the buffers
    outside it; a tensor's offset is its buffer's and no layer's live bytes exceed the peak."""
    g = lower(get_zoo(model), runtime)
    plan = get_planner(runtime).plan(g)
    assert plan.runtime == runtime
    placed = [b for b in plan.buffers if b.offset >= 0]
    assert all(b.size <= 0 or b.first > b.last for b in plan.buffers if b.offset < 0)
    for i, a in enumerate(placed):
        for b in placed[i + 1:]:
            if a.first <= b.last and b.first <= a.last:
                assert not _overlap((a.offset, a.offset + a.size), (b.offset, b.offset + b.size)), (a, b)
    assert plan.arena_bytes == max(b.offset + b.size for b in placed)
    assert plan.peak_bytes == plan.arena_bytes + plan.extra_bytes + plan.persistent_bytes and plan.extra_bytes >= 0
    assert plan.persistent_bytes >= 0 and plan.persistent_bytes_32 >= 0  # (TFLM: its tail)
    assert len(plan.live_bytes) == len(g.layers) and max(plan.live_bytes) <= plan.peak_bytes
    stored = [ly.output for ly in g.layers if ly.op.kind != "pad" and plan.tensor_offsets[ly.output] >= 0]
    assert plan.arena_bytes >= max(g.tensors[t].nbytes for t in stored)  # pads folded / fused outputs: not stored
    for b in plan.buffers:
        assert all(plan.tensor_offsets[t] == b.offset for t in b.tensors), b
    assert get_planner(runtime).plan(g) == plan  # deterministic


@pytest.mark.parametrize("runtime", list_planners())
def test_planner_refuses_another_runtime_s_graph(runtime: str) -> None:
    other = next((r for r in list_lowerings() if r != runtime), None)
    if other is None:
        pytest.skip("only one lowering registered")
    with pytest.raises(ValueError, match=f"the {runtime} planner needs a graph lowered for '{runtime}'"):
        get_planner(runtime).plan(lower(get_zoo("mcunet-in2"), other))


def test_every_planner_has_a_lowering() -> None:
    assert set(list_planners()) <= set(list_lowerings())
    with pytest.raises(ValueError) as e:
        get_planner("no-such-runtime")
    assert str(e.value).endswith(", ".join(list_planners()))


# ---- block types -----------------------------------------------------------------------------------------------

def _one_block(name: str, stride: int, se: bool) -> tuple[ModelSpec, BlockSpec]:
    b = BlockSpec(name, 24 if stride == 2 else 16, stride=stride, kernel=3, expand_ratio=1, se=se, act="hswish")
    return ModelSpec(f"one-{name}", (16, 16), 10, (StageSpec((BlockSpec("conv", 16, 2),)), StageSpec((b,)))), b


@pytest.mark.parametrize("se", [False, True], ids=["plain", "se"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", list_blocks())
def test_block_type_contract(name: str, stride: int, se: bool) -> None:
    """A block type's primitive layers chain its input channels to ``out_channels``; an SE module adds exactly
    one ``se`` layer and MACs; the model round-trips through JSON and every lowering lowers it."""
    spec, b = _one_block(name, stride, se)
    prims = get_block(name).prims(b, 16)
    c = 16
    for p in prims:
        assert p.c_in == c, (name, p)
        c = p.c_out
    assert c == b.out_channels
    plain = get_block(name).prims(_one_block(name, stride, False)[1], 16)
    assert [p.kind for p in prims].count("se") == [p.kind for p in plain].count("se") + se == int(se)
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    if se:
        assert spec_macs(spec) > spec_macs(_one_block(name, stride, False)[0])
    for runtime in list_lowerings():
        g = lower(spec, runtime)
        assert g.tensors[g.output].shape == (10, 1, 1), runtime
        assert g.kind_counts()["dense"] == 1, runtime


def test_unknown_block_type_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="unknown block type 'resnet'"):
        BlockSpec("resnet", 8)


# ---- search spaces ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list_spaces())
def test_space_contract(name: str) -> None:
    """A space uses registered blocks only, counts its architectures, round-trips through its dictionary, and
    its first, last and a random architecture are valid models that the cost model prices."""
    sp = get_space(name)
    assert sp.name == name
    assert {c.block for s in sp.stages for c in s.choices} <= set(list_blocks())
    assert sp.size() == math.prod(sp.shape) * len(sp.resolutions) > 0
    assert space_from_dict(json.loads(json.dumps(sp.to_dict()))) == sp
    assert len(sp.describe()) == len(sp.stages)
    r, c = sp.sample(np.random.default_rng(0), 1)
    lm = load_latency_model(BOARD)
    for res, choices in ((0, (0,) * len(sp.stages)), (len(sp.resolutions) - 1, tuple(k - 1 for k in sp.shape)),
                         (int(r[0]), tuple(int(j) for j in c[0]))):
        spec = from_stage_config(sp.stage_config(res, choices))
        assert spec.resolution == (sp.resolutions[res],) * 2 and spec.num_classes == sp.num_classes
        rep = cost_model(spec, BOARD, latency_model=lm)
        assert rep.macs == spec_macs(spec) and rep.latency_ms > 0 and rep.peak_sram_bytes > 0


# ---- search strategies -----------------------------------------------------------------------------------------

TINY = {"name": "tiny", "resolutions": [64, 96], "num_classes": 10, "stages": [
    {"stride": 2, "act": "relu", "block": "conv", "widths": [8, 16]},
    {"stride": 2, "act": "hswish", "block": "sep", "widths": [16, 24], "depths": [1, 2]},
    {"stride": 2, "act": "hswish", "blocks": ["mbconv", "convnext"], "widths": [24, 32], "expands": [3],
     "se": True}]}
TINY_LIMITS = Limits(latency_ms=8.0, peak_sram_bytes=48 * 1024, flash_bytes=210_000)


@pytest.fixture(scope="module")
def tiny_optimum() -> tuple[int, int]:
    """The tiny space by brute force with the full cost model: (feasible architectures, most MACs among them)."""
    sp = space_from_dict(TINY)
    lm = load_latency_model(BOARD)
    feasible = []
    for r, c in sp.iter_all():
        rep = cost_model(from_stage_config(sp.stage_config(r, c)), BOARD, latency_model=lm)
        if (rep.latency_ms <= TINY_LIMITS.latency_ms and rep.peak_sram_bytes <= TINY_LIMITS.peak_sram_bytes
                and rep.flash_bytes <= TINY_LIMITS.flash_bytes):
            feasible.append(rep.macs)
    return len(feasible), max(feasible)


@pytest.mark.parametrize("strategy", list_strategies())
def test_strategy_contract(strategy: str, tiny_optimum: tuple[int, int]) -> None:
    """With its default options a strategy finds the most-MACs architecture of a 64-architecture space under
    the limits (checked by brute force with the full cost model), reproducibly, and refuses an option that is
    not its own."""
    n_feasible, best = tiny_optimum
    assert 1 < n_feasible < 64  # the limits bind: the test can tell a strategy that ignores them
    sp, lm = space_from_dict(TINY), load_latency_model(BOARD)
    out = run_search(sp, BOARD, lm, TINY_LIMITS, strategy=strategy)
    assert out.found and out.strategy == strategy and out.cost is not None and out.spec is not None
    c = out.cost
    assert c.latency_ms <= TINY_LIMITS.latency_ms and c.peak_sram_bytes <= TINY_LIMITS.peak_sram_bytes
    assert c.flash_bytes <= TINY_LIMITS.flash_bytes
    assert c.macs == best
    again = run_search(sp, BOARD, lm, TINY_LIMITS, strategy=strategy)  # the default seed, where it has one
    assert again.stage_config == out.stage_config and again.evaluated == out.evaluated
    with pytest.raises(ValueError, match=f"does not apply to strategy '{strategy}'"):
        run_search(sp, BOARD, lm, TINY_LIMITS, strategy=strategy, no_such_option=1)


# ---- measurement runners and single-op builders ----------------------------------------------------------------

OP, VARIANT = Op.pointwise(16, 8, 8, 32), Variant("CONV_2D", "relu6")


def _options(**options: Any) -> Generator[dict[str, Any], None, None]:
    yield options


def _simulator() -> Generator[dict[str, Any], None, None]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    p = subprocess.Popen([sys.executable, "-m", "atomnet.measure._simulator", "--pty", "--fake-cycles"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert p.stdout is not None
        # generous timeouts: a late answer costs a resend, never an outcome
        yield {"port": p.stdout.readline().strip(), "timeout_s": 10.0, "run_timeout_s": 30.0,
               "load_timeout_s": 30.0}
    finally:
        p.kill()
        p.wait()


def _results_file(tmp: Path) -> Generator[dict[str, Any], None, None]:
    path = tmp / "results.jsonl"
    path.write_text(json.dumps({"op": OP.to_dict(), "latency_ms": [0.5, 0.52, 0.51, 0.5],
                                "flash_bytes": OP.flash_bytes}) + "\n")
    yield {"path": path}


#: how to open each runner on this machine (a runner added to the registry needs a line here)
RUNNER_OPTIONS: dict[str, Callable[[Path], Generator[dict[str, Any], None, None]]] = {
    "tflm-host": lambda tmp: _options(min_repeat_ms=0.2),
    "serial": lambda tmp: _simulator(),
    "import": _results_file,
    "qemu": lambda tmp: _options(),
}


@pytest.mark.parametrize("name", list_runners())
def test_runner_contract(name: str, tmp_path: Path) -> None:
    """A runner opens a single-op model and returns positive finite repeats; a campaign with it stores every
    repeat once in a fresh AtomDB under the runner's runtime."""
    pytest.importorskip("tflite_micro")
    from atomnet.db import AtomDB

    assert name in RUNNER_OPTIONS, f"runner {name!r}: say in RUNNER_OPTIONS how to open it in a test"
    options = RUNNER_OPTIONS[name](tmp_path)
    try:
        runner = get_runner(name, **next(options))
        assert runner.runtime and runner.runtime_version
        assert runner.clock_mhz is None or runner.clock_mhz > 0
        s = runner.open(get_builder("direct")(OP, VARIANT, 0), OP, VARIANT)
        s.warmup(1)
        reps = [s.repeat() for _ in range(3)]
        assert all(math.isfinite(v) and v > 0 for v in reps), reps
        assert s.flash_bytes is None or s.flash_bytes == OP.flash_bytes
        s.close()
        with AtomDB(tmp_path / "m.sqlite") as db:
            res = run_campaign([SweepEntry(OP, VARIANT, 1, 1)], runner, db, "contractboard", repeats=3, warmup=1,
                               progress=False)
            assert (res.rows_added, res.ops_measured, res.failed) == (3, 1, [])
            st = db.lookup(OP, "contractboard")
            assert st is not None and st.n == 3
            assert db.sources("contractboard")[0]["runtime"] == runner.runtime
    finally:
        options.close()


def test_unknown_runner_names_the_known_ones() -> None:
    with pytest.raises(ValueError) as e:
        get_runner("no-such-runner")
    assert str(e.value) == f"runner: unknown 'no-such-runner'; known: {', '.join(list_runners())}"


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "export" else n
                                  for n in list_builders()])  # export: torch → ONNX → onnx2tf, about a minute
def test_builder_contract(name: str) -> None:
    """A builder writes a valid int8 ``.tflite`` with exactly the operator asked for and its weights and biases
    as the op's Flash bytes."""
    pytest.importorskip("tflite_micro")
    if name == "export":
        pytest.importorskip("onnx2tf")
    from atomnet.export import int8_problems, parse_tflite

    m = parse_tflite(get_builder(name)(OP, VARIANT, 0))
    assert dict(m.op_counts()) == {"CONV_2D": 1}
    assert m.const_bytes == OP.flash_bytes and int8_problems(m) == []


# ---- every registry is loud on duplicates ----------------------------------------------------------------------

def _dup_block() -> None:
    register_block(list_blocks()[0])(type("Dup", (BlockType,), {}))


def _dup_lowering() -> None:
    register_lowering(list_lowerings()[0])(type("Dup", (Lowering,), {}))


def _dup_planner() -> None:
    register_planner(list_planners()[0])(type("Dup", (Planner,), {}))


def _dup_space() -> None:
    register_space(get_space(list_spaces()[0]))


def _dup_strategy() -> None:
    register_strategy(get_strategy(list_strategies()[0]))


def _dup_runner() -> None:
    register_runner(list_runners()[0])(lambda **k: None)  # type: ignore[arg-type]


def _dup_builder() -> None:
    register_builder(list_builders()[0], get_builder(list_builders()[0]))


DUPLICATES: dict[str, tuple[Callable[[], list[str]], Callable[[], None]]] = {
    "block": (list_blocks, _dup_block), "lowering": (list_lowerings, _dup_lowering),
    "planner": (list_planners, _dup_planner), "space": (list_spaces, _dup_space),
    "strategy": (list_strategies, _dup_strategy), "runner": (list_runners, _dup_runner),
    "builder": (list_builders, _dup_builder),
}


@pytest.mark.parametrize("registry", sorted(DUPLICATES))
def test_registering_a_taken_name_raises(registry: str) -> None:
    listing, register = DUPLICATES[registry]
    before = listing()
    with pytest.raises(ValueError, match="already registered"):
        register()
    assert listing() == before
