"""ModelSpec: validation with field paths, JSON round trip, block registry, importers, load_spec."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from atomnet.spec import (
    SCHEMA,
    BlockSpec,
    BlockType,
    HeadSpec,
    ModelSpec,
    Prim,
    SpecError,
    StageSpec,
    detect_format,
    from_ofa,
    from_stage_config,
    get_block,
    list_blocks,
    load_spec,
    register_block,
)
from atomnet.zoo import ZOO, get_zoo, list_zoo


def _tiny(**kw: object) -> ModelSpec:
    stages = (StageSpec((BlockSpec("conv", 8, stride=2, act="relu"),)),
              StageSpec.uniform("sep", 2, 16, stride=2, act="hswish"),
              StageSpec.uniform("convnext", 2, 16, stride=1, expand_ratio=3, se=True, act="hswish"))
    args: dict[str, object] = {"name": "tiny", "resolution": (32, 24), "num_classes": 10, "stages": stages}
    args.update(kw)
    return ModelSpec(**args)  # type: ignore[arg-type]


def test_round_trip_every_zoo_model() -> None:
    for name in list_zoo():
        spec = get_zoo(name)
        d = spec.to_dict()
        assert d["schema"] == SCHEMA
        again = ModelSpec.from_dict(json.loads(json.dumps(d)))
        assert again == spec and hash(again) == hash(spec)
        assert dict(again.provenance) == dict(spec.provenance)


def test_non_square_and_int_resolution() -> None:
    spec = _tiny()
    assert spec.resolution == (32, 24) and (spec.input_h, spec.input_w) == (32, 24)
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    d = spec.to_dict()
    d["resolution"] = 32
    assert ModelSpec.from_dict(d).resolution == (32, 32)


def test_alias_normalized_and_registry() -> None:
    assert BlockSpec("mobile_one", 8).type == "sep"
    assert BlockSpec("mbconvnext", 8).type == "convnext"
    assert {"conv", "convnext", "mbconv", "sep"} <= set(list_blocks())  # the built-ins (contract: test_contracts)
    with pytest.raises(ValueError, match="already registered"):
        register_block("sep")(type("Dup", (BlockType,), {}))
    with pytest.raises(ValueError, match="already registered"):
        register_block("fresh", aliases=("mobile_one",))(type("Dup2", (BlockType,), {}))
    assert "fresh" not in list_blocks()


@pytest.mark.parametrize(("name", "expand", "kinds"), [
    ("conv", 1, ["conv", "se"]), ("sep", 1, ["dw", "se", "pw"]), ("mbconv", 4, ["pw", "dw", "se", "pw", "add"]),
    ("convnext", 4, ["dw", "se", "pw", "pw", "add"])])
def test_built_in_block_layers(name: str, expand: int, kinds: list[str]) -> None:
    """The built-in blocks' primitive layers, in order (the registry contract is in test_contracts.py)."""
    b = BlockSpec(name, 16, stride=1, kernel=3, expand_ratio=expand, se=True, act="relu6")
    prims = get_block(name).prims(b, 16)
    assert all(isinstance(p, Prim) for p in prims) and [p.kind for p in prims] == kinds
    mid = [p.c_out for p in prims if p.kind == "pw"][:1]
    if name == "mbconv":
        assert mid == [64]  # expansion first: 16 -> 16·4


def test_residual_rules() -> None:
    spec = _tiny()
    sites = list(spec.iter_blocks())
    assert [s.residual for s in sites] == [False, False, False, True, True]
    with pytest.raises(SpecError, match=r"stages\[1\]\.blocks\[0\]\.residual: a residual needs stride 1"):
        ModelSpec("x", (32, 32), 10, (StageSpec((BlockSpec("conv", 8, 2),)),
                                StageSpec((BlockSpec("mbconv", 8, 2, 3, 3, residual=True),))))
    with pytest.raises(SpecError, match="sep blocks have no residual"):
        ModelSpec("x", (32, 32), 10, (StageSpec((BlockSpec("conv", 8, 2),)),
                                StageSpec((BlockSpec("sep", 8, residual=True),))))
    off = ModelSpec("x", (32, 32), 10, (StageSpec((BlockSpec("conv", 8, 2),)),
                                  StageSpec((BlockSpec("mbconv", 8, 1, 3, 3, residual=False),))))
    assert not next(iter(list(off.iter_blocks())[1:])).residual


def test_mid_channels_rules() -> None:
    assert get_block("convnext").mid_channels(BlockSpec("convnext", 80, expand_ratio=3), 80) == 240
    assert get_block("mbconv").mid_channels(BlockSpec("mbconv", 16, expand_ratio=1), 8) == 8
    assert get_block("mbconv").mid_channels(BlockSpec("mbconv", 16, expand_ratio=3, mid_channels=24), 8) == 24
    with pytest.raises(SpecError, match="integer channel multiplier"):
        _tiny(stages=(StageSpec((BlockSpec("sep", 8, expand_ratio=2.5),)),))


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["stages"][2]["blocks"][1].update(out_channels=-4),
     "stages[2].blocks[1].out_channels: expected a positive int, got -4"),
    (lambda d: d["stages"][1]["blocks"][0].update(kernel=4), "stages[1].blocks[0].kernel: expected one of"),
    (lambda d: d["stages"][1]["blocks"][0].update(act="gelu"), "stages[1].blocks[0].act: expected one of"),
    (lambda d: d["stages"][1]["blocks"][0].update(type="fancy"), "stages[1].blocks[0].type: unknown block type"),
    (lambda d: d["stages"][1]["blocks"][0].update(colour="red"), "stages[1].blocks[0]: unknown key(s) ['colour']"),
    (lambda d: d.update(extra=1), "unknown key(s) ['extra']"),
    (lambda d: d.update(schema="atomnet.spec/0"), "schema: expected 'atomnet.spec/1'"),
    (lambda d: d["head"].update(feature_mix=0), "head.feature_mix: expected a positive int, got 0"),
    (lambda d: d.update(num_classes=True), "num_classes: expected a positive int, got True"),
    (lambda d: d["stages"].__setitem__(1, {"blocks": []}), "stages[1].blocks: expected a non-empty list"),
])
def test_errors_name_the_field(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    d = json.loads(json.dumps(_tiny().to_dict()))
    mutate(d)
    with pytest.raises(SpecError) as e:
        ModelSpec.from_dict(d)
    assert message in str(e.value)


def test_stage_config_import_and_errors(shared_dir: Path) -> None:
    d = json.loads((shared_dir / "zoo/atomnet/atomnet-256kb.json").read_text())
    spec = from_stage_config(d)
    assert [s.depth for s in spec.stages] == [1, 1, 2, 2, 6, 2]
    assert [b.stride for b in spec.stages[4].blocks] == [2, 1, 1, 1, 1, 1]
    assert spec.stages[3].blocks[0].type == "convnext" and spec.stages[1].blocks[0].type == "sep"
    assert spec == get_zoo("atomnet-256kb")
    bad = json.loads(json.dumps(d))
    bad["stages"][3]["out_channels"] = -4
    with pytest.raises(SpecError, match=r"^stages\[3\]\.out_channels: expected a positive int, got -4$"):
        from_stage_config(bad)
    bad = json.loads(json.dumps(d))
    bad["stages"][2]["expand_ratio"] = 1.5
    with pytest.raises(SpecError, match=r"stages\[2\]\.expand_ratio: sep blocks expand by an integer .*\(block 0\)"):
        from_stage_config(bad)
    bad = json.loads(json.dumps(d))
    bad["stages"][1]["block"] = "resnet"
    with pytest.raises(SpecError, match=r"stages\[1\]\.block: unknown block type 'resnet'"):
        from_stage_config(bad)


def test_ofa_import(shared_dir: Path) -> None:
    d = json.loads((shared_dir / "zoo/mcunet/mcunet-256kb-1mb_imagenet.json").read_text())
    spec = from_ofa(d, "in2")
    blocks = spec.blocks
    assert blocks[0].type == "conv" and blocks[0].act == "relu6" and len(blocks) == 1 + len(d["blocks"])
    for b, raw in zip(blocks[1:], d["blocks"], strict=True):
        m = raw["mobile_inverted_conv"]
        assert (b.out_channels, b.kernel, b.stride) == (m["out_channels"], m["kernel_size"], m["stride"])
        assert b.residual == (raw["shortcut"] is not None)
        assert b.mid_channels == (m["mid_channels"] or m["in_channels"])
    # a new stage where the stride is 2 or the width changes
    assert [s.out_channels for s in spec.stages] == [16, 8, 16, 24, 40, 48, 96, 160]
    # ZeroLayer blocks with identity shortcut are dropped
    px = from_ofa(json.loads((shared_dir / "zoo/mcunet/proxyless-w0.3-r176_imagenet.json").read_text()), "p")
    assert px.provenance["dropped_zero_blocks"] == 2 and px.head == HeadSpec(384, "relu6")
    # lists: one element is taken, more are a supernet
    d2 = json.loads(json.dumps(d))
    d2["blocks"][3]["mobile_inverted_conv"]["kernel_size"] = [5]
    assert from_ofa(d2, "x").blocks[4].kernel == 5
    d2["blocks"][3]["mobile_inverted_conv"]["kernel_size"] = [3, 5, 7]
    with pytest.raises(SpecError, match=r"blocks\[3\]\.mobile_inverted_conv\.kernel_size: a list of 3"):
        from_ofa(d2, "x")
    d3 = json.loads(json.dumps(d))
    d3["blocks"][2]["mobile_inverted_conv"]["in_channels"] = 12
    with pytest.raises(SpecError, match=r"blocks\[2\]\.mobile_inverted_conv\.in_channels: expected 16"):
        from_ofa(d3, "x")
    d4 = json.loads(json.dumps(d))
    d4["blocks"][1]["conv"] = d4["blocks"][1].pop("mobile_inverted_conv")
    d4["blocks"][1]["conv"]["name"] = "MBConvLayer"
    assert from_ofa(d4, "in2") == spec


def test_load_spec_detects_formats(tmp_path: Path, shared_dir: Path) -> None:
    assert load_spec("mcunet-in2", catalog=ZOO) is get_zoo("mcunet-in2")
    assert load_spec("MCUNet-256kb-1mb", catalog=ZOO) is get_zoo("mcunet-in2")  # aliases, any case
    ofa = load_spec(shared_dir / "zoo/mcunet/mcunet-256kb-1mb_imagenet.json")
    assert ofa.name == "mcunet-256kb-1mb_imagenet" and replace(ofa, name="mcunet-in2") == get_zoo("mcunet-in2")
    assert load_spec(str(shared_dir / "zoo/atomnet/atomnet-5fps.json")) == get_zoo("atomnet-5fps")
    own = tmp_path / "own.json"
    own.write_text(json.dumps(_tiny().to_dict()))
    assert load_spec(own) == _tiny()
    assert detect_format(_tiny().to_dict()) == "atomnet-spec"
    broken = tmp_path / "broken.json"
    d: dict[str, Any] = json.loads(json.dumps(_tiny().to_dict()))  # a plain JSON document to edit
    d["stages"][1]["blocks"][0]["stride"] = 3
    broken.write_text(json.dumps(d))
    with pytest.raises(SpecError, match=r"broken\.json: stages\[1\]\.blocks\[0\]\.stride: expected one of"):
        load_spec(broken)
    unknown = tmp_path / "what.json"
    unknown.write_text('{"layers": []}')
    with pytest.raises(SpecError, match=r"what\.json: not a known architecture format"):
        load_spec(unknown)
    with pytest.raises(FileNotFoundError, match=r"^no-such-model: neither a zoo model \(atomnet-10fps, .*\) nor a fi"):
        load_spec("no-such-model", catalog=ZOO)
    # without a catalog a name is only a path: spec never looks into the zoo (spec is below zoo)
    with pytest.raises(FileNotFoundError, match=r"^mcunet-in2: no such file \(to load a model by name, pass a cat"):
        load_spec("mcunet-in2")


def test_specs_pickle_and_provenance_is_read_only() -> None:
    import pickle

    spec = get_zoo("atomnet-256kb")
    again = pickle.loads(pickle.dumps(spec))
    assert again == spec and dict(again.provenance) == dict(spec.provenance)
    with pytest.raises(TypeError, match="read-only"):
        spec.provenance["source"] = "x"  # type: ignore[index]


def test_no_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, atomnet.spec, atomnet.zoo, atomnet.spec._lower; "
            "atomnet.zoo.get_zoo('mcunet-in2'); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
