"""atomnet deploy follows the runtime planner's memory plan (issue 17: "the generated code *is* the memory plan"):
the arena equals the tinyengine planner's peak (tensors at its offsets, in-place depthwise, the scratch after the
tensors) and TFLM's head arena for ``tflm-plan``, every tensor at the planner's offset, outputs bit-exact with the
real TFLite Micro interpreter; the in-place depthwise kernel checked by hand and against a reference."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tflite_micro")

from atomnet.cost import get_planner
from atomnet.deploy import build_host, generate, quantize_multiplier, run_host
from atomnet.deploy._gen import C_DIR, _Model
from atomnet.deploy._plan import DW_INPLACE, _first_clash, dw_scratch_bytes, plan_deploy
from atomnet.export import file_graph, plan_tflm_arena, read_tflite
from keras_int8 import convert_int8

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models" / "tflite"
PUBLIC = ("mlc_vww_96_int8.tflite", "tflm_person_detect.tflite")
#: the zoo exports that deploy (the stress spec joins when its operators are supported)
ZOO = ("mcunet-in0", "mcunet-in1", "mcunet-in2", "mcunet-in3", "mcunet-in4", "mcunet-vww0", "mcunet-vww1",
       "mcunet-vww2", "proxyless-w0.3-r176")


def _tflm(path: Path, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    ip = runtime.Interpreter.from_file(str(path))
    ip.set_input(x, 0)
    ip.invoke()
    return np.asarray(ip.get_output(0)).ravel()


def _offsets(out: Path) -> dict[int, int]:
    c = (out / "model.c").read_text()
    return {int(t): int(o) for t, o in re.findall(r"#define T(\d+) \(atomnet_arena \+ (\d+)\)", c)}


def _check(path: Path, out: Path, te_exact: bool = True) -> dict[str, int]:
    """Generate for both runtimes; arena and offsets vs the planners (computed here, not by deploy); bit-exact
    (``te_exact=False``: the tflm-plan code only, for the zoo exports whose tinyengine code
    tests/test_deploy_ops.py already runs on the same inputs). Where the tinyengine plan cannot be followed, the
    tensors placed after the peak are named and counted."""
    m = read_tflite(path)
    fg = file_graph(m, "tinyengine")
    te = get_planner("tinyengine").plan(fg.graph)
    d = generate(path, runtime="tinyengine", out_dir=out / "te")
    assert d.planner_peak_bytes == te.arena_bytes + te.extra_bytes == te.peak_bytes
    assert f"#define ATOMNET_ARENA_BYTES {d.arena_bytes}\n" in (out / "te" / "model.h").read_text()
    offs = _offsets(out / "te")
    assert m.inputs[0] in offs and m.outputs[0] in offs
    notes = " ".join(d.plan_notes)
    apart = {t for t, o in offs.items() if o != te.tensor_offsets[fg.tensor_ids[t]]}
    for t in apart:  # a tensor placed apart from the plan is named (it or one merged with it)
        assert any(f"tensor {u} " in notes for u in offs if fg.tensor_ids[u] == fg.tensor_ids[t]), (t, notes)
    for t, o in offs.items():
        if t not in apart:
            assert o + m.tensors[t].nbytes <= te.arena_bytes, t  # planned tensors lie below the scratch
    c = (out / "te" / "model.c").read_text()
    assert f"#define ATOMNET_SCRATCH (atomnet_arena + {te.arena_bytes})" in c
    n_inplace = c.count("atomnet_k_dwconv_inplace(T")
    assert n_inplace == sum(ly.inplace for ly in fg.graph.layers) - notes.count("cannot run in place") > 0

    fgt = file_graph(m, "tflm")
    tf = get_planner("tflm").plan(fgt.graph)
    dt = generate(path, runtime="tflm-plan", out_dir=out / "tflm")
    assert dt.arena_bytes == dt.planner_peak_bytes == plan_tflm_arena(m).head_bytes == tf.arena_bytes
    assert dt.plan_notes == () and "dwconv_inplace(T" not in (out / "tflm" / "model.c").read_text()
    for t, o in _offsets(out / "tflm").items():
        assert o == tf.tensor_offsets[fgt.tensor_ids[t]], t
    assert _offsets(out / "tflm") == _tflm_greedy_offsets(path)

    for dm in (d, dt) if te_exact else (dt,):
        exe = build_host(dm)
        for seed in (0, 1):
            x = np.random.default_rng(seed).integers(-128, 128, size=dm.input_shape, dtype=np.int8)
            assert np.array_equal(run_host(exe, x), _tflm(path, x)), (path.name, dm.runtime, seed)
    return {"tinyengine": d.arena_bytes, "tflm-plan": dt.arena_bytes, "inplace": n_inplace,
            "excess": d.arena_bytes - d.planner_peak_bytes}


def _tflm_greedy_offsets(path: Path) -> dict[int, int]:
    """Offsets of TFLite Micro's GreedyMemoryPlanner as atomnet.export replays it (its buffers are the
    non-constant tensors in index order, then the kernels' scratch requests)."""
    from atomnet.export._arena import _plan_buffers, greedy_plan, rule
    from atomnet.tflm import OpContext

    m = read_tflite(path)
    scratch = [(op.index, s) for op in m.ops for s in rule(op.name).scratch(OpContext(m, op))]
    bufs, _ = _plan_buffers(m, scratch)
    tensors = [t.index for t in m.tensors if not t.is_constant and t.nbytes > 0 and not t.is_variable]
    return dict(zip(tensors, greedy_plan(bufs), strict=False))


@pytest.mark.parametrize("name", PUBLIC)
def test_public_models_follow_the_plan(name: str, tmp_path: Path) -> None:
    r = _check(MODELS / name, tmp_path)
    # the published TinyEngine-style peaks of these files: tensors 55,296 B + scratch (im2col, kernel buffer)
    assert r == {"mlc_vww_96_int8.tflite": {"tinyengine": 60_728, "tflm-plan": 73_728, "inplace": 13, "excess": 0},
                 "tflm_person_detect.tflite": {"tinyengine": 60_296, "tflm-plan": 55_296, "inplace": 13,
                                               "excess": 0}}[name]


@pytest.mark.slow  # the session fixture exports the zoo (minutes on 2 shared cores); the checks ~40 s
def test_zoo_exports_follow_the_plan(zoo_int8_exports: dict[str, Path], tmp_path: Path) -> None:
    done = {name: _check(zoo_int8_exports[name], tmp_path / name, te_exact=False) for name in ZOO}
    assert {n: r["excess"] for n, r in done.items()} == dict.fromkeys(ZOO, 0)  # arena == the planner's peak
    # the published TinyEngine peaks (tests/test_sram.py) are what the generated code allocates
    assert {n: done[n]["tinyengine"] for n in ("mcunet-in2", "mcunet-vww2")} == {"mcunet-in2": 219_776,
                                                                                  "mcunet-vww2": 177_704}
    # the stress spec has a residual around a depthwise (ops 20-22, 32-40): the planner runs it in place although
    # the ADD reads its input later; the generated code keeps the input, places the output apart (first-fit over
    # the lifetimes: a gap of the plan here) and names it
    stress = _check(zoo_int8_exports["stress"], tmp_path / "stress", te_exact=False)
    assert stress["excess"] == 0 and stress["inplace"] == 2, stress  # the two outputs fit in gaps of the plan


def test_plan_detects_an_overlap() -> None:
    """The plan is checked as the generated code runs it: offsets that overlap two live tensors are found."""
    path = MODELS / "mlc_vww_96_int8.tflite"
    p = plan_deploy(path, "tinyengine", _Model(path))
    m = read_tflite(path)
    key = dict(file_graph(m, "tinyengine").tensor_ids)
    planned = dict(enumerate(get_planner("tinyengine").plan(file_graph(m, "tinyengine").graph).tensor_offsets))
    assert _first_clash(m, planned, key, list(p.runs), p.conv_inputs) is None
    assert _first_clash(m, dict.fromkeys(planned, 0), key, list(p.runs), p.conv_inputs) is not None  # all at 0
    assert p.runs.count(DW_INPLACE) == 13 and p.runs.count("skip") == 1  # the RESHAPE before the classifier


# ---- the in-place depthwise kernel --------------------------------------------------------------------------
def _mbqm(x: int, mult: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier in Python integers (rounding doubling high multiply, rounding shift)."""
    left, right = max(shift, 0), max(-shift, 0)
    ab = (x << left) * mult
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    q = abs(ab + nudge) >> 31
    v = q if ab + nudge >= 0 else -q
    mask = (1 << right) - 1
    rem, thr = v & mask, (mask >> 1) + (1 if v < 0 else 0)
    return (v >> right) + (1 if rem > thr else 0)


def _dw_ref(x: np.ndarray, w: np.ndarray, bias: np.ndarray, zp_in: int, zp_out: int, qm: list[tuple[int, int]],
            s: int, ph: int, pw: int, oh: int, ow: int) -> np.ndarray:
    h, wd, c = x.shape
    k = w.shape[0]
    out = np.zeros((oh, ow, c), dtype=np.int64)
    for oy in range(oh):
        for ox in range(ow):
            for ch in range(c):
                acc = int(bias[ch])
                for ky in range(k):
                    for kx in range(k):
                        y, xx = oy * s - ph + ky, ox * s - pw + kx
                        if 0 <= y < h and 0 <= xx < wd:
                            acc += (int(x[y, xx, ch]) - zp_in) * int(w[ky, kx, ch])
                out[oy, ox, ch] = min(max(_mbqm(acc, *qm[ch]) + zp_out, -128), 127)
    return out.astype(np.int8)


def _arr(ctype: str, name: str, v: Any) -> str:
    return f"static const {ctype} {name}[] = {{{', '.join(str(int(a)) for a in np.asarray(v).ravel())}}};\n"


def _run_inplace(cases: list[dict[str, Any]], tmp_path: Path) -> list[np.ndarray]:
    """Run atomnet_k_dwconv_inplace on each case (its input in one buffer, the output read back from it)."""
    src = ['#include <stdio.h>\n#include <string.h>\n#include "atomnet_k.h"\n',
           "static int8_t buf[4096], scratch[4096];\n"]
    body = []
    for i, cs in enumerate(cases):
        h, w, c = cs["x"].shape
        src += [_arr("int8_t", f"x{i}", cs["x"]), _arr("int8_t", f"w{i}", cs["w"]), _arr("int32_t", f"b{i}", cs["b"]),
                _arr("int32_t", f"m{i}", [m for m, _ in cs["qm"]]), _arr("int32_t", f"s{i}", [s for _, s in cs["qm"]])]
        k, s = cs["w"].shape[0], cs["s"]
        n_out = cs["oh"] * cs["ow"] * c
        body.append(f"    memcpy(buf, x{i}, sizeof x{i});\n"
                    f"    atomnet_k_dwconv_inplace(buf, {h}, {w}, {c}, {cs['zp_in']}, w{i}, b{i}, {k}, {k}, {s}, {s}, "
                    f"{cs['ph']}, {cs['pw']}, {cs['oh']}, {cs['ow']}, {cs['zp_out']}, m{i}, s{i}, -128, 127, "
                    "scratch);\n"
                    f"    fwrite(buf, 1, {n_out}, stdout);\n")
    src += ["int main(void) {\n", *body, "    return 0;\n}\n"]
    (tmp_path / "main.c").write_text("".join(src))
    exe = tmp_path / "dw"
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Werror", f"-I{C_DIR}", "-o", str(exe),
                    str(tmp_path / "main.c"), str(C_DIR / "atomnet_k_inplace.c"), str(C_DIR / "atomnet_k_int8.c")],
                   check=True)
    raw = np.frombuffer(subprocess.run([str(exe)], capture_output=True, check=True).stdout, dtype=np.int8)
    outs, at = [], 0
    for cs in cases:
        n = cs["oh"] * cs["ow"] * cs["x"].shape[2]
        outs.append(raw[at:at + n].reshape(cs["oh"], cs["ow"], -1))
        at += n
    assert at == raw.size
    return outs


def test_inplace_depthwise_by_hand(tmp_path: Path) -> None:
    """3×3 input of ones, two channels (weights 1 and 2), unit requantization: each output is the number of
    taps inside the image (SAME padding) times the channel's weight, by hand."""
    one = quantize_multiplier(0.5)  # (1 << 30, 0): x · 0.5, so the output is acc / 2
    x = np.ones((3, 3, 2), dtype=np.int8)
    w = np.stack([np.ones((3, 3)), 2 * np.ones((3, 3))], axis=-1).astype(np.int8)
    base: dict[str, Any] = {"x": x, "w": w, "b": np.zeros(2, np.int32), "qm": [one, one], "zp_in": 0, "zp_out": 0,
                            "ph": 1, "pw": 1}
    s1, s2 = _run_inplace([{**base, "s": 1, "oh": 3, "ow": 3}, {**base, "s": 2, "oh": 2, "ow": 2}], tmp_path)
    taps = np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]])
    halve = np.vectorize(lambda v: _mbqm(int(v), *one))  # 4→2, 6→3, 9→5 (round half away), 8→4, 12→6, 18→9
    assert np.array_equal(s1[..., 0], [[2, 3, 2], [3, 5, 3], [2, 3, 2]]) and np.array_equal(s1[..., 0], halve(taps))
    assert np.array_equal(s1[..., 1], [[4, 6, 4], [6, 9, 6], [4, 6, 4]])
    assert np.array_equal(s2[..., 0], [[2, 2], [2, 2]]) and np.array_equal(s2[..., 1], [[4, 4], [4, 4]])  # 4 taps


@pytest.mark.parametrize("k", [3, 5, 7])
def test_inplace_depthwise_matches_the_reference(k: int, tmp_path: Path) -> None:
    """Random int8 cases (stride 1 and 2, SAME padding, odd and even sizes, per-channel requantization): the
    in-place kernel equals the TFLite reference arithmetic in Python integers."""
    rng = np.random.default_rng(k)
    cases: list[dict[str, Any]] = []
    for s, (h, w, c) in ((1, (9, 7, 5)), (2, (9, 7, 5)), (2, (8, 10, 3)), (1, (4, 4, 16))):
        oh, ow = -(-h // s), -(-w // s)
        ph, pw = max((oh - 1) * s + k - h, 0) // 2, max((ow - 1) * s + k - w, 0) // 2
        scales = rng.uniform(0.001, 0.02, size=c)
        cases.append({"x": rng.integers(-128, 128, (h, w, c), dtype=np.int8),
                      "w": rng.integers(-127, 128, (k, k, c), dtype=np.int8),
                      "b": rng.integers(-3000, 3000, c, dtype=np.int32), "qm": [quantize_multiplier(v) for v in scales],
                      "zp_in": int(rng.integers(-20, 20)), "zp_out": int(rng.integers(-20, 20)), "s": s, "ph": ph,
                      "pw": pw, "oh": oh, "ow": ow})
        p = k // 2
        assert dw_scratch_bytes(oh, ow, k, k, s, s) <= 2 * (h + 2 * p) * (w + 2 * p)  # TinyEngine's im2col budget
    outs = _run_inplace(cases, tmp_path)
    for cs, got in zip(cases, outs, strict=True):
        ref = _dw_ref(cs["x"], cs["w"], cs["b"], cs["zp_in"], cs["zp_out"], cs["qm"], cs["s"], cs["ph"], cs["pw"],
                      cs["oh"], cs["ow"])
        assert np.array_equal(got, ref), (k, cs["s"], cs["x"].shape)


# ---- a PAD folded into the convolution reading it -----------------------------------------------------------------
def _convert(build: Any, shape: tuple[int, ...], path: Path) -> Path:
    """A full-int8 model of ``build``; representative data U(-1, 3): a non-zero input zero point."""
    return convert_int8(build, shape, -1, 3, path)


#: name: (padding of H, W (and C), the conv (kind, k, stride), expected runs of the PAD and the conv)
PADDED: dict[str, tuple[tuple[tuple[int, int], ...], tuple[str, int, int], tuple[str, str]]] = {
    "dw_s1": (((2, 0), (0, 2)), ("dw", 3, 1), ("fold", "dw in place")),  # symmetric: the converter makes it SAME
    "dw_s2": (((0, 1), (0, 1)), ("dw", 3, 2), ("fold", "dw in place")),
    "dw_k5_s2": (((1, 2), (2, 1)), ("dw", 5, 2), ("fold", "dw in place")),
    "conv_k3": (((2, 1), (1, 2)), ("conv", 3, 1), ("fold", "call")),
    # padding the channels too: not foldable, the PAD runs and its output is placed apart from the plan (named)
    "conv_channels": (((1, 1), (0, 2), (0, 4)), ("conv", 3, 1), ("call", "call")),
}


@pytest.mark.filterwarnings("ignore:Statistics for quantized inputs were expected")
@pytest.mark.parametrize("name", sorted(PADDED))
def test_pad_folded_into_its_convolution_is_bit_exact(name: str, tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    L = keras.layers
    pads, (kind, k, s), runs = PADDED[name]

    def build(x: Any) -> Any:
        y = L.Conv2D(8, 1)(x)  # the PAD reads a conv's output (its zero point is not the input's)
        y = L.ZeroPadding2D(pads)(y) if len(pads) == 2 else keras.ops.pad(y, [(0, 0), *pads])
        conv = L.DepthwiseConv2D(k, strides=s) if kind == "dw" else L.Conv2D(8, k, strides=s)
        return conv(y)

    path = _convert(build, (9, 10, 4), tmp_path / f"{name}.tflite")
    m = read_tflite(path)
    assert [op.name for op in m.ops][-2][:3] == "PAD", [op.name for op in m.ops]
    p = plan_deploy(path, "tinyengine", _Model(path))
    folded = runs[0] == "fold"
    assert p.runs[-2:] == runs
    if folded:
        assert p.notes == () and p.conv_inputs[len(m.ops) - 1].tensor == m.ops[-2].inputs[0]
        assert (p.conv_inputs[len(m.ops) - 1].pad_top, p.conv_inputs[len(m.ops) - 1].pad_left) == (pads[0][0],
                                                                                                  pads[1][0])
    else:
        assert len(p.notes) == 1 and "PAD 1 cannot be folded" in p.notes[0] and "channel" in p.notes[0], p.notes
    for runtime in ("tinyengine", "tflm-plan"):
        d = generate(path, runtime=runtime, out_dir=tmp_path / runtime)
        notes = list(d.plan_notes)
        assert d.arena_bytes >= d.planner_peak_bytes and notes == (list(p.notes) if runtime == "tinyengine" else [])
        assert d.arena_bytes == d.planner_peak_bytes or "after the peak" in notes[0]
        assert ("PAD" in [op for _, op in d.layers]) == (runtime == "tflm-plan" or not folded)
        exe = build_host(d)
        for seed in range(3):
            x = np.random.default_rng(seed).integers(-128, 128, size=d.input_shape, dtype=np.int8)
            assert np.array_equal(run_host(exe, x), _tflm(path, x)), (name, runtime, seed)
