"""atomnet.nn: modules from specs; MACs and parameters measured with hooks equal the spec statistics."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the ML stack is not installed: pip install -r requirements-ml.txt")

from atomnet.nn import build_model, demo_spec, measure, same_pads  # noqa: E402
from atomnet.spec import BlockSpec, ModelSpec, SpecError, StageSpec, list_blocks, spec_macs, spec_params  # noqa: E402
from atomnet.zoo import get_zoo, list_zoo  # noqa: E402


@pytest.mark.parametrize("name", list_zoo())
def test_zoo_model_macs_and_params_match_the_spec(name: str) -> None:
    spec = get_zoo(name)
    model = build_model(spec, seed=0)
    stats = measure(model, (spec.in_channels, *spec.resolution))
    assert (stats.macs, stats.params) == (spec_macs(spec), spec_params(spec))


def test_published_statistics() -> None:
    """FACTS §2: atomnet-256kb has 78.75 M MACs and 787,376 parameters, measured on the module."""
    stats = measure(build_model(get_zoo("atomnet-256kb")), (3, 160, 160))
    assert stats.macs == 78_754_064
    assert stats.params == 787_376


def _one_block_spec(block: str, stride: int, **kw: object) -> ModelSpec:
    c_in = 16
    out = 16 if stride == 1 else 24
    return ModelSpec(f"one-{block}", (20, 20), 5, (
        StageSpec((BlockSpec("conv", c_in, stride=1, act="relu"),)),
        StageSpec((BlockSpec(block, out, stride=stride, **kw),)),  # type: ignore[arg-type]
    ))


@pytest.mark.parametrize("block", list_blocks())
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("se", [False, True])
def test_every_registered_block_builds_and_counts(block: str, stride: int, se: bool) -> None:
    """Registry-driven: each block type, both strides, with and without SE, runs forward and backward."""
    if block == "conv":
        spec = _one_block_spec(block, stride, se=se, act="relu6")
    else:
        spec = _one_block_spec(block, stride, se=se, act="hswish", kernel=5, expand_ratio=3)
    model = build_model(spec, seed=1)
    stats = measure(model, (3, 20, 20))
    assert (stats.macs, stats.params) == (spec_macs(spec), spec_params(spec))
    model.train()
    y = model(torch.randn(2, 3, 20, 20))
    assert y.shape == (2, 5)
    y.sum().backward()


def test_residual_only_where_the_spec_has_one() -> None:
    spec = _one_block_spec("convnext", 1, expand_ratio=3, se=True, act="hswish")
    blocks = [b for stage in build_model(spec).stages for b in stage.children()]
    assert [b.residual for b in blocks] == [False, True]
    assert [n for n, _ in blocks[1].get_submodule("layers").named_children()] == ["dw", "se", "expand", "project"]


def test_sep_expansion_is_a_depthwise_channel_multiplier() -> None:
    """SEP with e > 1: Conv2d(c, c·e, k, groups=c) then pointwise c·e → c_out (AtomNet's MobileOneBlock)."""
    model = build_model(demo_spec())
    dw = model.get_submodule("stages.2.0.layers.dw")
    conv = next(m for m in dw.children() if isinstance(m, torch.nn.Conv2d))
    assert (conv.in_channels, conv.out_channels, conv.groups, conv.stride) == (16, 48, 16, (2, 2))
    pw = next(m for m in model.get_submodule("stages.2.0.layers.pw").children() if isinstance(m, torch.nn.Conv2d))
    assert (pw.in_channels, pw.out_channels) == (48, 32)


def test_tflite_padding_matches_tensorflow_same() -> None:
    """Stride-2 convs on even inputs pad (0, 1) like TF's SAME; output sizes equal the spec's."""
    assert same_pads(160, 3, 2) == (0, 1)
    assert same_pads(7, 3, 2) == (1, 1)
    assert same_pads(20, 7, 2) == (2, 3)
    spec = get_zoo("mcunet-in2")  # kernels 3, 5, 7 with strides 1 and 2
    tf_model, sym_model = build_model(spec, padding="tflite"), build_model(spec, padding="symmetric")
    x = torch.randn(1, 3, *spec.resolution)
    with torch.no_grad():
        a, b = tf_model.features(x), sym_model.features(x)
    assert a.shape == b.shape == (1, spec.out_channels, 5, 5)
    pads = [m for m in tf_model.modules() if isinstance(m, torch.nn.ZeroPad2d)]
    assert pads and all(m.padding[0] < m.padding[1] for m in pads)  # only asymmetric ones are explicit
    assert not [m for m in sym_model.modules() if isinstance(m, torch.nn.ZeroPad2d)]


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone() -> None:
    spec = demo_spec()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = build_model(spec, seed=7), build_model(spec, seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_bad_padding_and_unknown_block_errors() -> None:
    with pytest.raises(ValueError, match="padding: expected one of tflite, symmetric"):
        build_model(demo_spec(), padding="same")
    with pytest.raises(SpecError, match="unknown block type 'resnet'"):
        ModelSpec.from_dict({**demo_spec().to_dict(), "stages": [{"blocks": [{"type": "resnet", "out_channels": 8}]}]})
