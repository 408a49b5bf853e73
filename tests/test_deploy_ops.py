"""MUL, HARD_SWISH, LOGISTIC and PAD/PADV2 in the generated C against the real TFLite Micro interpreter, byte for
byte: single-operator int8 models (tf.lite.TFLiteConverter, several quantization parameters, every int8 input
value), the kernels in place (input and output the same buffer), the whole zoo and the stress spec, and 10 random
hybrid-space architectures (tests/conftest.py's session exports)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tflite_micro")

from atomnet.deploy import build_host, generate, run_host
from atomnet.deploy._gen import C_DIR, _Model
from atomnet.errors import InputError
from keras_int8 import convert_int8

pytestmark = pytest.mark.filterwarnings("ignore:Statistics for quantized inputs were expected")


def _tflm(path: Path, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    ip = runtime.Interpreter.from_file(str(path))
    ip.set_input(x, 0)
    ip.invoke()
    return np.asarray(ip.get_output(0)).ravel()


_convert = convert_int8


def _every_value(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Every int8 value at least once (tiled, shuffled), so an elementwise op is checked on its whole domain."""
    n = int(np.prod(shape))
    vals = np.tile(np.arange(-128, 128, dtype=np.int8), -(-n // 256))
    rng = np.random.default_rng(seed)
    return rng.permutation(vals)[:n].reshape(shape) if n >= 256 else rng.integers(-128, 128, shape, dtype=np.int8)


def _layers() -> Any:
    keras = pytest.importorskip("keras")
    return keras.layers, keras.ops


def _case(name: str) -> tuple[Callable[[Any], Any], tuple[int, ...], list[str]]:
    L, K = _layers()
    cases: dict[str, tuple[Callable[[Any], Any], tuple[int, ...], list[str]]] = {
        "pad": (lambda x: L.ZeroPadding2D(((1, 2), (0, 3)))(x), (5, 6, 8), ["PAD"]),
        "padv2": (lambda x: K.pad(x, [[0, 0], [2, 1], [1, 1], [0, 0]], constant_values=0.5), (5, 6, 8), ["PADV2"]),
        "logistic": (lambda x: K.sigmoid(x), (4, 4, 16), ["LOGISTIC"]),
        "hard_swish": (lambda x: K.hard_swish(x), (4, 4, 16), ["HARD_SWISH"]),
        "mul_scalar": (lambda x: x * 0.3, (4, 4, 16), ["MUL"]),
        "mul_se": (lambda x: x * K.mean(x, axis=(1, 2), keepdims=True), (4, 4, 16), ["MEAN", "MUL"]),
        "mul_se_gate_first": (lambda x: K.mean(x, axis=(1, 2), keepdims=True) * x, (4, 4, 16), ["MEAN", "MUL"]),
        "mul_same": (lambda x: L.Conv2D(16, 1)(x) * L.Conv2D(16, 1)(x), (4, 4, 16), ["CONV_2D", "CONV_2D", "MUL"]),
    }
    return cases[name]


# (case, representative range): the ranges give different input scales and zero points (HARD_SWISH: reluish
# exponents -2, 0, 1, 2, 3; LOGISTIC: input left shifts 20, 23, 25, saturating beyond the radius or not)
SINGLE = [("pad", (-1, 3)), ("pad", (-20, 0.5)), ("padv2", (-1, 3)), ("padv2", (-0.2, 0.9)),
          ("logistic", (-6, 6)), ("logistic", (-1, 0.5)), ("logistic", (-30, 12)),
          ("hard_swish", (-6, 6)), ("hard_swish", (-0.3, 0.3)), ("hard_swish", (-1, 10)), ("hard_swish", (-4, 1)),
          ("hard_swish", (-1.4, 1.4)),
          ("mul_scalar", (-2, 5)), ("mul_scalar", (-0.1, 0.1)), ("mul_se", (-2, 5)), ("mul_se_gate_first", (-2, 5)),
          ("mul_same", (-1, 1))]


@pytest.mark.parametrize("case,rng", SINGLE, ids=[f"{c}{lo:g}_{hi:g}" for c, (lo, hi) in SINGLE])
def test_single_operator_models_are_bit_exact(tmp_path: Path, case: str, rng: tuple[float, float]) -> None:
    build, shape, ops = _case(case)
    model = _convert(build, shape, rng[0], rng[1], tmp_path / f"{case}.tflite")
    d = generate(model, runtime="tinyengine", out_dir=tmp_path / "out")
    assert [op for _, op in d.layers] == ops
    exe = build_host(d)
    for seed in range(3):
        x = _every_value(d.input_shape, seed)
        ref, got = _tflm(model, x), run_host(exe, x)
        assert got.shape == ref.shape and ref.size >= 256
        assert int((got != ref).sum()) == 0, f"{case} {rng}: {int((got != ref).sum())} of {ref.size} differ"


def test_mul_broadcast_operands_are_the_expected_shapes(tmp_path: Path) -> None:
    """The cases above cover the three MUL forms of the exports: a constant scalar, the SE gate second, first."""
    seen = {}
    for case in ("mul_scalar", "mul_se", "mul_se_gate_first"):
        build, shape, _ = _case(case)
        m = _Model(_convert(build, shape, -2, 5, tmp_path / f"{case}.tflite"))
        op = next(o for o in m.g.operators if m.opnames[o.opcodeIndex] == "MUL")
        seen[case] = [(list(m.g.tensors[i].shape), m.is_const(i)) for i in op.inputs]
    assert seen == {"mul_scalar": [([1, 4, 4, 16], False), ([], True)],
                    "mul_se": [([1, 4, 4, 16], False), ([1, 1, 1, 16], False)],
                    "mul_se_gate_first": [([1, 1, 1, 16], False), ([1, 4, 4, 16], False)]}


def _edit(src: Path, dst: Path, fn: Callable[[Any], None]) -> Path:
    import flatbuffers

    m = _Model(src)
    fn(m)
    b = flatbuffers.Builder(1024)
    b.Finish(m.m.Pack(b), file_identifier=b"TFL3")
    dst.write_bytes(bytes(b.Output()))
    return dst


def test_unsupported_variants_are_input_errors(tmp_path: Path) -> None:
    """What TFLite Micro's Prepare refuses is refused too, naming the file, the operator index and the rule."""
    lg = _convert(*_case("logistic")[:2], -6, 6, tmp_path / "lg.tflite")
    bad = _edit(lg, tmp_path / "lg_zp.tflite", lambda m: setattr(m.g.tensors[m.g.outputs[0]].quantization,
                                                                 "zeroPoint", [0]))
    with pytest.raises(InputError, match=r"lg_zp.tflite: operator 0 LOGISTIC: .*output zero point -128"):
        generate(bad, runtime="tinyengine", out_dir=tmp_path / "o1")
    hs = _convert(*_case("hard_swish")[:2], -6, 6, tmp_path / "hs.tflite")

    def tiny_out_scale(m: Any) -> None:
        q = m.g.tensors[m.g.outputs[0]].quantization
        q.scale = [float(m.g.tensors[m.g.inputs[0]].quantization.scale[0]) / 1000]

    with pytest.raises(InputError, match=r"hs_s.tflite: operator 0 HARD_SWISH: output scale .*exponent > 0"):
        generate(_edit(hs, tmp_path / "hs_s.tflite", tiny_out_scale), runtime="tinyengine", out_dir=tmp_path / "o2")


_INPLACE_MAIN = r"""#include <stdio.h>
#include <string.h>
#include "atomnet_k.h"
static int8_t a[4096], b[4096], ref[4096], inp[4096];
static void dump(const int8_t *p, int n) { fwrite(p, 1, (size_t)n, stdout); }
int main(void) {
    int i, n = 3 * 5 * 7;
    const int32_t pad_g[12] = {1, 3, 5, 7, 0, 2, 1, 3, 1, 6, 7, 10};
    const int32_t mul_g[12] = {1, 3, 5, 7, 105, 35, 7, 1, 0, 0, 0, 1};
    for (i = 0; i < 4096; ++i) inp[i] = (int8_t)(i * 37 + 11);
    for (i = 0; i < 7; ++i) b[i] = (int8_t)(i * 29 - 90);
    /* each kernel out of place into ref, then in place on a copy of the input; both dumped */
    atomnet_k_hswish(inp, ref, 256, 5, -20, 30846, -6, 16438, 3);
    memcpy(a, inp, 256); atomnet_k_hswish(a, a, 256, 5, -20, 30846, -6, 16438, 3); dump(ref, 256); dump(a, 256);
    atomnet_k_logistic(inp, ref, 256, -7, 120, 1686629713, 21);
    memcpy(a, inp, 256); atomnet_k_logistic(a, a, 256, -7, 120, 1686629713, 21); dump(ref, 256); dump(a, 256);
    atomnet_k_mul(inp, b, ref, mul_g, 3, 90, -5, 1518500250, -7, -128, 127);
    memcpy(a, inp, (size_t)n); atomnet_k_mul(a, b, a, mul_g, 3, 90, -5, 1518500250, -7, -128, 127);
    dump(ref, n); dump(a, n);
    atomnet_k_pad(inp, ref, pad_g, -3);
    memcpy(a, inp, (size_t)n); atomnet_k_pad(a, a, pad_g, -3); dump(ref, 420); dump(a, 420);
    return 0;
}
"""


def test_kernels_are_safe_in_place(tmp_path: Path) -> None:
    """HARD_SWISH, LOGISTIC, MUL (SE broadcast) and PAD with output = input give the out-of-place result (the
    tinyengine plan runs elementwise operators in place)."""
    (tmp_path / "main.c").write_text(_INPLACE_MAIN)
    exe = tmp_path / "inplace"
    srcs = [str(C_DIR / f) for f in ("atomnet_k_act.c", "atomnet_k_mul.c", "atomnet_k_pad.c", "atomnet_k_int8.c")]
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Werror", f"-I{C_DIR}", "-o", str(exe),
                    str(tmp_path / "main.c"), *srcs], check=True)
    out = np.frombuffer(subprocess.run([str(exe)], capture_output=True, check=True).stdout, dtype=np.int8)
    sizes = [256, 256, 105, 420]
    assert out.size == 2 * sum(sizes)
    pos = 0
    for n in sizes:
        ref, inplace = out[pos:pos + n], out[pos + n:pos + 2 * n]
        assert np.array_equal(ref, inplace), n
        assert len(np.unique(ref)) > 8  # a real result, not a constant
        pos += 2 * n


def _bit_exact(exports: Mapping[str, Path], tmp_path: Path, seeds: int) -> dict[str, tuple[int, int]]:
    """name -> (outputs that differ, outputs compared) over ``seeds`` random int8 inputs."""
    res = {}
    for name in exports:
        path = exports[name]
        d = generate(path, runtime="tinyengine", out_dir=tmp_path / name)
        assert d.arena_bytes >= d.planner_peak_bytes, name  # equal: tests/test_deploy_plan.py
        exe = build_host(d)
        bad = tot = 0
        for seed in range(seeds):
            x = np.random.default_rng(seed).integers(-128, 128, size=d.input_shape, dtype=np.int8)
            ref, got = _tflm(path, x), run_host(exe, x)
            assert got.shape == ref.shape, name
            bad, tot = bad + int((got != ref).sum()), tot + ref.size
        res[name] = (bad, tot)
    print("differing/compared outputs:", res)  # shown by pytest -rP
    return res


@pytest.mark.slow  # 19 exports (~15-25 s each on 2 shared cores, shared with the other zoo tests), 2 runs each
def test_whole_zoo_and_stress_are_bit_exact(zoo_int8_exports: Mapping[str, Path], tmp_path: Path) -> None:
    from atomnet.zoo import list_zoo

    res = _bit_exact(zoo_int8_exports, tmp_path, seeds=2)
    assert sorted(res) == sorted([*list_zoo(), "stress"])
    assert {n: r for n, r in res.items() if r[0]} == {}
    assert res["stress"][1] == 2 * 7 and res["atomnet-256kb"][1] == 2 * 1000


@pytest.mark.slow  # 10 exports at 48x48 (~10-15 s each on 2 shared cores)
def test_ten_random_hybrid_architectures_are_bit_exact(hybrid_int8_exports: Mapping[str, Path],
                                                        tmp_path: Path) -> None:
    res = _bit_exact(hybrid_int8_exports, tmp_path, seeds=3)
    assert len(res) == 10
    assert {n: r for n, r in res.items() if r[0]} == {}
    ops = {op for n in hybrid_int8_exports for op in _Model(hybrid_int8_exports[n]).opnames}
    assert {"MUL", "HARD_SWISH", "DEPTHWISE_CONV_2D", "MEAN"} <= ops
