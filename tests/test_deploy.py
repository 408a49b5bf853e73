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
