"""Flash per runtime: int8 weights + per-runtime extras + documented code constants (atomnet.runtimes)."""

from __future__ import annotations

import pytest

from atomnet.cost import flash_breakdown, flash_bytes
from atomnet.runtimes import get_runtime
from atomnet.spec import lower, spec_params
from atomnet.zoo import get_zoo


def test_xcube_ai_code_comes_from_the_fitted_family_constants() -> None:
    """X-CUBE-AI Flash = the AtomDB weights formula + code Flash fitted on the public ST model zoo rows
    (atomnet/data/xcube_memory.json, 7.x): a base once, and per weighted layer and per output channel in the
    "quant" part. Recomputed from the data file's constants and the lowering, not restated."""
    from atomnet.cost import get_xcube_model

    g = lower(get_zoo("atomnet-256kb"), "xcube-ai")
    params = sum(layer.op.flash_bytes for layer in g.layers)
    f = flash_breakdown(g)
    m = get_xcube_model("7.x")
    assert f["weights"] + f["bias"] == params
    assert f["code"] == round(m.code_base_bytes)
    weighted = [layer.op for layer in g.layers if layer.op.kind_info.weighted]
    assert f["quant"] == sum(round(m.code_per_layer_bytes + m.code_per_channel_bytes * op.c_out) for op in weighted)
    assert f["code"] + f["quant"] == m.code_flash_bytes(g)
    source = get_runtime("xcube-ai").flash.code_source
    assert "fitted on" in source and "981" not in source


def test_xcube_ai_predictions_on_other_models() -> None:
    """Flash of models the code constants were not fitted on (no published X-CUBE-AI Flash of these is in
    ../shared), so these are REGRESSION PINS of the current model (weights + biases from the AtomDB formula +
    the 7.x code fit), checked against the independent parameter count: weights + 4 B per bias ≥ 1 B per
    trainable parameter."""
    pins = {"atomnet-320kb": 953_879, "atomnet-512kb": 2_857_620, "mcunet-in2": 885_477}  # regression pins
    for name, pinned in pins.items():
        spec = get_zoo(name)
        g = lower(spec, "xcube-ai")
        got = flash_bytes(g)
        assert got == pinned, (name, got)
        f = flash_breakdown(g)
        assert f["weights"] + f["bias"] >= spec_params(spec) - 2 * 10_000  # BN folded


def test_tinyengine_rule() -> None:
    g = lower(get_zoo("mcunet-in2"), "tinyengine")
    f = flash_breakdown(g)
    c_out = sum(layer.op.c_out for layer in g.layers if layer.op.kind in ("conv", "pointwise", "depthwise", "dense"))
    assert f["bias"] + f["quant"] == 8 * c_out and f["code"] == 63 * 1024
    # weights = params minus BN (2 per conv channel) minus the classifier bias
    assert f["weights"] == spec_params(get_zoo("mcunet-in2")) - 2 * (c_out - 1000) - 1000


def test_tflm_per_channel_quant() -> None:
    g = lower(get_zoo("mcunet-in0"), "tflm")
    f = flash_breakdown(g)
    c_out = sum(layer.op.c_out for layer in g.layers if layer.op.kind in ("conv", "pointwise", "depthwise"))
    assert f["quant"] == 12 * c_out + 12 and f["code"] == get_runtime("tflm").flash.code_bytes == 64 * 1024
    with pytest.raises(ValueError, match="unknown runtime 'nnom'; known: tflm, tinyengine, xcube-ai"):
        flash_breakdown(g, "nnom")
