"""Peak-SRAM planners: TinyEngine byte for byte (FACTS §3), TFLM greedy rules, the X-CUBE-AI model, Act."""

from __future__ import annotations

import pytest

from atomnet.cost._sram import (
    SramPlan,
    act_bytes,
    first_fit,
    get_planner,
    list_planners,
    plan_sram,
    register_planner,
)
from atomnet.runtimes import get_runtime, list_runtimes
from atomnet.spec import lower
from atomnet.zoo import get_zoo, list_zoo

TINYENGINE_PEAKS = {  # FACTS §3, published TinyEngine peak SRAM (bytes)
    "mcunet-in2": 219_776, "mcunet-in3": 266_344, "mcunet-in4": 426_120, "mcunet-in1": 98_024,
    "mcunet-in0": 50_064, "mcunet-vww0": 60_800, "mcunet-vww1": 93_992, "mcunet-vww2": 177_704,
    "proxyless-w0.3-r176": 265_600,
}


@pytest.mark.parametrize("name", sorted(TINYENGINE_PEAKS))
def test_tinyengine_published_peaks(name: str) -> None:
    plan = plan_sram(get_zoo(name), "tinyengine")
    assert plan.peak_bytes == TINYENGINE_PEAKS[name]
    assert plan.peak_bytes == plan.arena_bytes + plan.extra_bytes


def test_tinyengine_details_in2() -> None:
    g = lower(get_zoo("mcunet-in2"), "tinyengine")
    plan = get_planner("tinyengine").plan(g)
    # im2col: the 5×5 in-place depthwise on 24×80×80 -> 2·84·84; kernel buffer: the 3×3 stem, 3·3·3·16·2
    assert plan.extra_bytes == 2 * 84 * 84 + 3 * 3 * 3 * 16 * 2
    assert all(b.size % 4 == 0 for b in plan.buffers)
    dw = next(i for i, layer in enumerate(g.layers) if layer.op.kind == "depthwise")
    assert plan.tensor_offsets[g.layers[dw].output] == plan.tensor_offsets[g.layers[dw].inputs[0]]


def test_act_metric() -> None:
    assert [act_bytes(get_zoo(n)) for n in ("mcunet-in2", "mcunet-in3", "mcunet-in4")] == [332_800, 340_736,
                                                                                            422_400]


def test_first_fit_rules() -> None:
    # largest first; equal sizes keep list order; lowest free offset over the lifetime (inclusive)
    assert first_fit([16, 32, 16], [0, 0, 1], [1, 2, 2]) == [32, 0, 48]
    assert first_fit([8, 8], [0, 1], [0, 1]) == [0, 0]
    assert first_fit([8, 8], [0, 1], [1, 1]) == [0, 8]
    assert first_fit([4, 10, 4], [0, 1, 2], [0, 1, 2]) == [0, 0, 0]
    # a gap between two placed buffers is reused when big enough
    assert first_fit([10, 10, 5, 5], [0, 0, 0, 2], [3, 3, 1, 3]) == [0, 10, 20, 20]


def test_registry() -> None:
    assert {get_planner(get_runtime(r).planner).runtime for r in list_runtimes()} <= set(list_planners())
    with pytest.raises(ValueError, match="no SRAM planner for 'nnom'"):
        get_planner("nnom")
    with pytest.raises(ValueError, match="already registered"):
        register_planner("tflm")(type("X", (), {}))
    with pytest.raises(ValueError, match="needs a graph lowered for 'tflm'"):
        get_planner("tflm").plan(lower(get_zoo("mcunet-in0"), "tinyengine"))


def _no_overlap(plan: SramPlan) -> None:
    placed = [b for b in plan.buffers if b.offset >= 0]
    for i, a in enumerate(placed):
        for b in placed[i + 1:]:
            if a.first <= b.last and b.first <= a.last:
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)


@pytest.mark.parametrize("runtime", list_planners())
def test_planner_contract(runtime: str) -> None:
    """Every planner on every zoo model: buffers never collide, the peak bounds every layer's live bytes."""
    for name in list_zoo():
        g = lower(get_zoo(name), get_planner(runtime).lowering)
        plan = get_planner(runtime).plan(g)
        _no_overlap(plan)
        assert len(plan.live_bytes) == len(g.layers)
        assert max(plan.live_bytes) <= plan.arena_bytes + plan.extra_bytes == plan.peak_bytes - plan.persistent_bytes
        assert plan.tensor_offsets[g.input] >= 0 and plan.runtime == runtime


def test_tflm_rules() -> None:
    g = lower(get_zoo("atomnet-256kb"), "tflm")
    plan = get_planner("tflm").plan(g)
    assert plan.extra_bytes == 0 and all(b.size % 16 == 0 for b in plan.buffers)
    scratch = [b for b in plan.buffers if not b.tensors]
    assert len(scratch) == 11  # one int32 accumulator buffer per MEAN, 4·C_out bytes
    head = next(b for b in scratch if b.label == "head.pool.scratch")
    assert head.size == 4 * 128
    # no in-place: every layer's input and output are live together
    for layer in g.layers:
        io = {*layer.inputs, layer.output}
        assert len({plan.tensor_offsets[t] for t in io}) == len(io), layer.name
    # the stem: 3×160×160 input + 24×80×80 output, then h-swish pairs of 2 × 153,600 B
    assert plan.live_bytes[0] == 76_800 + 153_600
    assert plan.arena_bytes == 332_800  # the head; + the persistent tail the interpreter allocates for the export
    assert (plan.persistent_bytes, plan.persistent_bytes_32, plan.peak_bytes) == (81_424, 73_260, 414_224)


def test_xcube_ai_model_on_atomnet_256kb() -> None:
    """atomnet-256kb with the 7.x constants fitted on the public ST model zoo rows (the AtomNet paper's own
    figure is not in ../shared and was not used): the pool peaks in stage 3's ConvNext block (the 384×20×20
    expansion, its 64×20×20 input and the residual), the stem overlaps its input; runtime RAM apart."""
    from atomnet.cost import get_xcube_model

    g = lower(get_zoo("atomnet-256kb"), "xcube-ai")
    plan = plan_sram(get_zoo("atomnet-256kb"), "xcube-ai")
    m = get_xcube_model("7.x")
    assert plan.arena_bytes == 205_037 == 153_600 + 2 * 25_600 + round(m.scratch_bytes)
    assert plan.extra_bytes == m.runtime_ram_bytes(g) == 33_932
    assert plan.peak_bytes == plan.arena_bytes + plan.extra_bytes
    assert plan.live_bytes[0] - plan.extra_bytes // len([ly for ly in g.layers if ly.op.kind != "pad"]) < 170_000
    se_scratch = [b for b in plan.buffers if b.label.endswith(".scratch")]
    assert len(se_scratch) == 10 and se_scratch[0].size == 11 * 48 + 5 * 16
