"""Test helper: a one-input keras model converted to a full-int8 ``.tflite`` by TensorFlow's own converter."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def convert_int8(build: Callable[[Any], Any], shape: tuple[int, ...], lo: float, hi: float, path: Path) -> Path:
    """``build(keras_input)`` as a full-int8 model at ``path``; representative data U(lo, hi) sets the input scale
    (seeded, 20 samples)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow")
    inp = tf.keras.Input(shape, batch_size=1)
    model = tf.keras.Model(inp, build(inp))

    def rep() -> Any:
        r = np.random.default_rng(0)
        for _ in range(20):
            yield [r.uniform(lo, hi, (1, *shape)).astype(np.float32)]

    cv = tf.lite.TFLiteConverter.from_keras_model(model)
    cv.optimizations = [tf.lite.Optimize.DEFAULT]
    cv.representative_dataset = rep
    cv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    cv.inference_input_type = tf.int8
    cv.inference_output_type = tf.int8
    path.write_bytes(cv.convert())
    return path
