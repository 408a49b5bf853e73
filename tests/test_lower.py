"""Lowering a spec into each runtime's operators (AtomDB conventions for X-CUBE-AI, TFLM, TinyEngine)."""

from __future__ import annotations

from collections import Counter

import pytest

from atomnet.ops import Op
from atomnet.spec import (
    BlockSpec,
    Graph,
    ModelSpec,
    StageSpec,
    list_lowerings,
    lower,
    register_lowering,
    spec_macs,
)
from atomnet.zoo import get_zoo, list_zoo

RUNTIMES = tuple(list_lowerings())


def test_registry() -> None:
    assert list_lowerings() == sorted(RUNTIMES)
    with pytest.raises(ValueError, match="runtime: unknown runtime 'onnx'; lowerings exist for tflm"):
        lower(get_zoo("atomnet-256kb"), "onnx")
    with pytest.raises(ValueError, match="already registered"):
        register_lowering("tflm")(type("X", (), {}))


def _check_graph(g: Graph) -> None:
    """Every layer's op reads and writes tensors of the shapes it claims (SAME/valid as the op says)."""
    produced = {g.input}
    for layer in g.layers:
        op = layer.op
        for t in layer.inputs:
            assert t in produced, (layer.name, t)
        x = g.tensors[layer.inputs[0]].shape
        if op.kind == "dense":  # the classifier reads its input flattened: C·H·W features (1×1 after the pool)
            assert (op.c_in, op.h_in, op.w_in) == (x[0] * x[1] * x[2], 1, 1), layer.name
            assert g.tensors[layer.output].shape == (op.c_out, 1, 1), layer.name
        else:
            assert x == (op.c_in, op.h_in, op.w_in), layer.name
            assert g.tensors[layer.output].shape == (op.c_out, op.h_out, op.w_out), layer.name
        if layer.inplace:
            assert g.tensors[layer.output].nbytes <= g.tensors[layer.inputs[0]].nbytes
        produced.add(layer.output)
    assert g.tensors[g.output].shape[0] == g.layers[-1].op.c_out
    assert len({layer.name for layer in g.layers}) == len(g.layers)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_contract_every_zoo_model(runtime: str) -> None:
    for name in list_zoo():
        spec = get_zoo(name)
        g = lower(spec, runtime)
        assert g.runtime == runtime and g.name == name
        _check_graph(g)
        assert g.tensors[g.input].shape == (3, *spec.resolution)
        assert g.tensors[g.output].shape == (spec.num_classes, 1, 1)
        convs = sum(o.macs for o in g.ops if o.kind in ("conv", "pointwise", "depthwise", "dense"))
        se = sum(o.macs for o in g.ops if o.kind == "se")
        assert convs + se == spec_macs(spec)


def test_xcube_atomnet_256kb_counts() -> None:
    g = lower(get_zoo("atomnet-256kb"), "xcube-ai")
    k = g.kind_counts()
    assert sum(k[x] for x in ("conv", "pointwise", "depthwise", "pad", "dense")) == 51  # FACTS §2
    assert k["se"] == 10
    assert (k["eltwise"], k["pool"], k["conv"], k["pad"], k["depthwise"], k["dense"]) == (7, 1, 1, 13, 13, 1)
    assert all(layer.act in ("none", "relu", "hswish") for layer in g.layers)


def test_xcube_pad_conventions() -> None:
    g = lower(get_zoo("atomnet-256kb"), "xcube-ai")
    assert g.layers[0].op == Op.conv(3, 160, 160, 24, 3, 2, padding=1) and g.layers[0].name == "s0.b0.conv"
    pad, dw = g.layer("s2.b0.dw.pad"), g.layer("s2.b0.dw")
    assert pad.op == Op.pad(24, 80, 80, 82, 82)
    assert dw.op == Op.depthwise(24, 82, 82, 3, 2) and (dw.op.h_out, dw.op.w_out) == (40, 40)
    assert dw.inputs == (pad.output,) and dw.act == "hswish"
    se = g.layer("s3.b1.se")
    assert se.op == Op.se(64, 20, 20) and se.inplace
    add = g.layer("s3.b1.add")
    assert add.op == Op.eltwise(64, 20, 20)
    skip = g.layer("s3.b0.project").output
    assert add.inputs == (g.layer("s3.b1.project").output, skip)
    assert g.layers[-2].op == Op.pool(128, 5, 5) and g.layers[-1].op == Op.dense(128, 1000)
    for layer in g.layers:
        if layer.op.kind == "pad":
            assert layer.op.h_out - layer.op.h_in in (2, 4, 6)
    # a non-stem k×k conv and 5×5 kernels get their own pad
    spec = ModelSpec("k5", (32, 32), 10, (StageSpec((BlockSpec("conv", 8, 2), BlockSpec("conv", 8, 1, 5))),
                                    StageSpec((BlockSpec("sep", 16, 2, 7),))))
    g = lower(spec, "xcube-ai")
    assert [layer.op.kind for layer in g.layers][:5] == ["conv", "pad", "conv", "pad", "depthwise"]
    assert g.layer("s0.b1.conv.pad").op == Op.pad(8, 16, 16, 20, 20)
    assert g.layer("s1.b0.dw").op == Op.depthwise(8, 22, 22, 7, 2)


def test_tflm_graph() -> None:
    g = lower(get_zoo("atomnet-256kb"), "tflm")
    assert "pad" not in g.kind_counts()
    ops = Counter(layer.tflite_op for layer in g.layers)
    # 13 dw, 23 pointwise + 20 SE 1×1 + stem conv; h-swish after every dw and the expanding pointwise
    assert ops["DEPTHWISE_CONV_2D"] == 13 and ops["CONV_2D"] == 1 + 23 + 20
    assert ops["HARD_SWISH"] == 13 + 3 + 10
    # SE gate: +3 folded into the expand conv's bias with RELU6 fused, then MUL ×1/6 (as the converter emits)
    assert ops["MEAN"] == 11 and ops["FULLY_CONNECTED"] == 1 and ops["ADD"] == 7 and ops["MUL"] == 20
    dw = g.layer("s2.b0.dw")
    assert (dw.op.h_in, dw.op.h_out, dw.act, dw.tflite_op) == (80, 40, "none", "DEPTHWISE_CONV_2D")
    hs = g.layer("s2.b0.dw.hswish")
    assert hs.inputs == (dw.output,) and hs.act == "hswish"
    names = [layer.name for layer in g.layers if layer.name.startswith("s3.b1.se")]
    assert names == ["s3.b1.se.pool", "s3.b1.se.reduce", "s3.b1.se.expand", "s3.b1.se.hsig_mul", "s3.b1.se.mul"]
    assert g.layer("s3.b1.se.expand").act == "relu6"
    assert g.layer("s3.b1.se.mul").inputs[0] == g.layer("s3.b1.dw.hswish").output
    assert all(layer.tflite_op for layer in g.layers)
    # relu6 is fused: MCUNet has no separate activation ops
    assert "HARD_SWISH" not in {layer.tflite_op for layer in lower(get_zoo("mcunet-in2"), "tflm").layers}


def test_tinyengine_graph() -> None:
    g = lower(get_zoo("mcunet-in2"), "tinyengine")
    assert "pad" not in g.kind_counts()
    dws = [layer for layer in g.layers if layer.op.kind == "depthwise"]
    assert dws and all(layer.inplace for layer in dws)
    assert all(not layer.inplace for layer in g.layers if layer.op.kind != "depthwise")
    assert dws[1].op == Op("depthwise", 24, 80, 80, 24, 40, 40, 5, 2, 24)  # unpadded input, SAME output
    assert not any(layer.tflite_op for layer in g.layers)
