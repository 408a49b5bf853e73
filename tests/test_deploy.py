"""atomnet deploy: generated C built with the host compiler, bit-exact against the real TFLite Micro interpreter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tflite_micro")

from atomnet.deploy import build_host, generate, run_host
from atomnet.errors import InputError

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models" / "tflite"


def _tflm(path: Path, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    ip = runtime.Interpreter.from_file(str(path))
    ip.set_input(x, 0)
    ip.invoke()
    return np.asarray(ip.get_output(0)).ravel()


def test_vww_public_model_is_bit_exact(tmp_path: Path) -> None:
    path = MODELS / "mlc_vww_96_int8.tflite"
    d = generate(path, runtime="tinyengine", out_dir=tmp_path)
    assert [op for _, op in d.layers].count("CONV_2D") == 14 and d.input_shape == (1, 96, 96, 3)
    exe = build_host(d)
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.integers(-128, 128, size=d.input_shape, dtype=np.int8)
        assert np.array_equal(run_host(exe, x), _tflm(path, x))
    assert d.planner_peak_bytes == 60_728  # the TinyEngine planner on this file: 55,296 B tensors + 5,432 B scratch
    assert d.arena_bytes == 60_728  # the generated code is the plan (tests/test_deploy_plan.py)
    h = (tmp_path / "model.h").read_text()
    assert "#define ATOMNET_ARENA_BYTES 60728" in h and "int atomnet_invoke(void);" in h
    c = (tmp_path / "model.c").read_text()
    assert "ATOMNET_LAYER_BEGIN(0)" in c and "const int8_t atomnet_w_0_w[" in c


def test_unsupported_operator_is_named(tmp_path: Path) -> None:
    path = MODELS / "mlc_ToyCar_quant_fullint.tflite"
    with pytest.raises(InputError, match="operator QUANTIZE is not supported"):
        generate(path, runtime="tinyengine", out_dir=tmp_path)


@pytest.mark.slow  # the session fixture exports 10 zoo models (~170 s on 2 shared cores)
def test_zoo_exports_are_bit_exact(zoo_int8_exports: dict[str, Path], tmp_path: Path) -> None:
    """Every zoo export whose operators are supported runs bit-exact (10 of 10 since MUL and HARD_SWISH;
    tests/test_deploy_ops.py covers the rest of the zoo); the arena vs the tinyengine planner peak is
    reported (the planner's own offsets, in-place depthwise: equal, tests/test_deploy_plan.py)."""
    exact, supported = [], 0
    from test_sram import TINYENGINE_PEAKS

    for name in (*TINYENGINE_PEAKS, "stress"):  # the fixture holds the whole zoo; this test keeps its 10
        path = zoo_int8_exports[name]
        try:
            d = generate(path, runtime="tinyengine", out_dir=tmp_path / name)
        except InputError as e:
            assert "HARD_SWISH" in str(e) or "MUL" in str(e), e
            continue
        supported += 1
        exe = build_host(d)
        x = np.random.default_rng(1).integers(-128, 128, size=d.input_shape, dtype=np.int8)
        if np.array_equal(run_host(exe, x), _tflm(path, x)):
            exact.append(name)
        assert d.arena_bytes >= d.planner_peak_bytes
    assert supported >= 9 and len(exact) == supported, exact
