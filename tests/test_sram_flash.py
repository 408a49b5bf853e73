"""Flash per runtime: int8 weights + per-runtime extras + documented code constants."""

from __future__ import annotations

import pytest

from atomnet.cost._flash import CODE_BYTES, flash_breakdown, flash_bytes
from atomnet.spec import lower, spec_params
from atomnet.zoo import get_zoo


def test_xcube_ai_calibration_point() -> None:
    g = lower(get_zoo("atomnet-256kb"), "xcube-ai")
    f = flash_breakdown(g)
    assert f["weights"] + f["bias"] == sum(layer.op.flash_bytes for layer in g.layers) == 803_840
    assert flash_bytes(g) == 981 * 1024  # FACTS §2: 981 KB (the code constant is calibrated on it)


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
    assert f["quant"] == 12 * c_out + 12 and f["code"] == CODE_BYTES["tflm"]
    with pytest.raises(ValueError, match="no Flash model for 'nnom'"):
        flash_breakdown(g, "nnom")
