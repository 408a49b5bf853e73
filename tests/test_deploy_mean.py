"""int8 MEAN over H×W in the generated C against the real TFLite Micro interpreter, for windows that are not powers
of two (6×6 = 36, 7×7 = 49, 3×3, 5×5: the reference kernel folds 1/n into the multiplier by an integer division,
exact only for powers of two, so a plain quantized 1/n differs by one on some outputs)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from atomnet.deploy import build_host, generate, run_host


def _mean_model(path: Path, hw: int, c: int) -> Path:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow")
    inp = tf.keras.Input((hw, hw, c), batch_size=1)
    out = tf.keras.layers.GlobalAveragePooling2D()(tf.keras.layers.Conv2D(c, 1)(inp))
    model = tf.keras.Model(inp, out)

    def rep():
        r = np.random.default_rng(0)
        for _ in range(20):
            yield [r.uniform(-1, 1, (1, hw, hw, c)).astype(np.float32)]

    cv = tf.lite.TFLiteConverter.from_keras_model(model)
    cv.optimizations = [tf.lite.Optimize.DEFAULT]
    cv.representative_dataset = rep
    cv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    cv.inference_input_type = tf.int8
    cv.inference_output_type = tf.int8
    path.write_bytes(cv.convert())
    return path


@pytest.mark.parametrize("hw,c", [(6, 32), (7, 40), (3, 16), (5, 24)])
def test_mean_is_bit_exact_for_windows_that_are_not_powers_of_two(tmp_path: Path, hw: int, c: int) -> None:
    rt = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    model = _mean_model(tmp_path / f"mean{hw}.tflite", hw, c)
    d = generate(model, runtime="tinyengine", out_dir=tmp_path / "out")
    assert [op for _, op in d.layers] == ["CONV_2D", "MEAN"]
    exe = build_host(d)
    for seed in range(3):
        x = np.random.default_rng(seed).integers(-128, 128, size=d.input_shape, dtype=np.int8)
        ip = rt.Interpreter.from_bytes(model.read_bytes())
        ip.set_input(x, 0)
        ip.invoke()
        ref = ip.get_output(0).ravel()
        got = run_host(exe, x).ravel()
        assert got.shape == ref.shape == (c,)
        assert int((got != ref).sum()) == 0, f"{hw}x{hw}: {int((got != ref).sum())} of {c} outputs differ"
