"""MobileNetV3-Large, MNASNet and ProxylessNAS-Mobile families against their published MACs and params
(FACTS §7 TinyOps table; the papers' 224 figures; torchvision's mnasnet1_0) and the MCUNet zoo files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from atomnet.cli import main
from atomnet.errors import InputError
from atomnet.spec import ModelSpec, from_ofa, spec_macs, spec_params
from atomnet.zoo import ZOO, get_zoo, resolve_zoo

#: name -> (our MACs, our params) exactly, (published MACs M, published params M), (MAC tol, params tol) relative
FIGURES: dict[str, tuple[int, int, tuple[float, float], tuple[float, float]]] = {
    # TinyOps table (FACTS §7): printed to the M (MACs) and 0.01 M (params)
    "mbv3-w0.5-r112": (17_714_624, 1_266_736, (16, 1.33), (0.12, 0.06)),
    "mbv3-w0.55-r128": (24_599_168, 1_478_824, (28, 1.55), (0.13, 0.06)),
    "mbv3-w0.75-r128": (46_486_400, 2_445_416, (44, 2.49), (0.06, 0.02)),
    "mbv3-w1.0-r160": (110_923_200, 3_932_952, (111, 3.96), (0.01, 0.01)),
    "mnasnet-w1.0-r80": (48_228_592, 4_383_312, (48, 4.38), (0.01, 0.001)),
    "mnasnet-w1.0-r128": (103_528_448, 4_383_312, (104, 4.38), (0.01, 0.001)),
    "proxyless-w0.3-r144": (26_001_384, 754_280, (21, 0.72), (0.24, 0.05)),
    "proxyless-w0.3-r176": (38_282_216, 754_280, (32, 0.72), (0.20, 0.05)),
    # papers at 224: MobileNetV3-Large 219 M (with its 1280 pre-classifier, not built here: params differ),
    # torchvision mnasnet1_0 4.38 M params / 0.31 GMACs, ProxylessNAS-Mobile 320 M / 4.1 M
    "mbv3-w1.0-r224": (215_040_960, 3_932_952, (219, 3.93), (0.02, 0.001)),
    "mnasnet-w1.0-r224": (314_415_872, 4_383_312, (312, 4.38), (0.01, 0.001)),
    "proxyless-w1.0-r224": (320_427_584, 4_080_512, (320, 4.1), (0.01, 0.01)),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_macs_and_params_against_published(name: str) -> None:
    macs, params, (pub_macs, pub_params), (tol_m, tol_p) = FIGURES[name]
    spec = get_zoo(name)
    assert (spec_macs(spec), spec_params(spec)) == (macs, params)
    assert abs(macs / 1e6 - pub_macs) <= tol_m * pub_macs
    assert abs(params / 1e6 - pub_params) <= tol_p * pub_params


def test_mbv3_with_the_1280_pre_classifier_is_torchvision_large() -> None:
    # the left-out pool -> 960x1280 conv (bias) -> h-swish, classifier from 1280: torchvision's 5,483,032 params
    spec = get_zoo("mbv3-w1.0-r224")
    extra = 960 * 1280 + 1280 + (1280 - 960) * 1000
    assert spec_params(spec) + extra == 5_483_032
    assert spec.head.feature_mix == 960 and spec.blocks[0].act == "hswish"


def _ofa(shared_dir: Path, fname: str) -> ModelSpec:
    return from_ofa(json.loads((shared_dir / "zoo/mcunet" / fname).read_text()), "x")


@pytest.mark.parametrize("fname,name", [("proxyless-w0.3-r176_imagenet.json", "proxyless-w0.3-r176"),
                                        ("proxyless_mobile.json", "proxyless-w1.0-r224")])
def test_proxyless_builder_reproduces_the_mcunet_files(shared_dir: Path, fname: str, name: str) -> None:
    from atomnet.zoo._mobilenets import PROXYLESS

    built = PROXYLESS.build(name, PROXYLESS.parse(name))
    want = _ofa(shared_dir, fname)
    assert (built.stages, built.head, built.resolution) == (want.stages, want.head, want.resolution)
    # the packaged MCUNet model keeps its own name and file
    if name == "proxyless-w0.3-r176":
        assert get_zoo(name).provenance.get("format") == "ofa-proxylessnas-json"


def test_names_parse_and_malformed_names_raise_input_errors() -> None:
    assert resolve_zoo("MbV3-W1-R160") == "mbv3-w1.0-r160"
    assert get_zoo("mnasnet-w0.5-r96").resolution == (96, 96)
    for bad in ("mbv3-0.5-112", "mbv3-w0.5", "mnasnet-w1.0-r", "proxyless-wx-r176", "mbv3-w0-r128",
                "mbv3-w5-r128", "mbv3-w1.0-r8"):
        with pytest.raises(InputError, match=r"mbv3-w\{width\}-r\{res\}|mnasnet-w|proxyless-w"):
            get_zoo(bad)
    assert "mbv3-w{width}-r{res}" in ZOO.names()


def _cost_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    rc = main(list(argv))
    return rc, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name,fits_flash", [("mbv3-w0.55-r128", True), ("mnasnet-w1.0-r80", False),
                                             ("proxyless-w0.3-r144", True)])
def test_cost_runs_on_the_public_db(public_db_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                                    fits_flash: bool) -> None:
    rc, d = _cost_json(capsys, "--db", str(public_db_path), "cost", name, "--board", "stm32h743", "--json")
    spec = get_zoo(name)
    assert (d["model"], d["macs"], d["params"]) == (name, spec_macs(spec), spec_params(spec))
    # MNASNet's 4.38 M int8 weights do not fit the H743's 2 MB internal Flash: the reason TinyOps goes external
    assert d["fits_flash"] is fits_flash and rc == (0 if fits_flash else 1)
    assert d["latency_ms"] > 0 and d["ops_exact"] > 0


def test_smallest_mbv3_exports_int8(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the ML stack is not installed")
    pytest.importorskip("onnx2tf", reason="the converter is not installed")
    from atomnet.export import export_int8

    spec = get_zoo("mbv3-w0.5-r112")
    calib = np.random.default_rng(0).uniform(-1, 1, size=(8, 3, 112, 112)).astype(np.float32)
    r = export_int8(spec, calib, tmp_path / "mbv3.tflite", seed=0)  # about 30 s on 2 shared cores
    assert r.path.stat().st_size > 1_000_000
    counts = r.model.op_counts()
    assert counts.get("DEPTHWISE_CONV_2D", 0) == 15
