"""The TFLite Micro persistent tail of a spec (atomnet.tflm.tflm_tail_for_graph): TFLM's allocation rules on the
file our exporter writes, rebuilt from the lowered graph; the batch parts (per block, composed per model) equal
the walk on every zoo model and on random search-space models; cost_model / BatchCoster / the planner carry it
for tflm only. The equality with the real interpreter on the exports is in tests/test_export.py (the module
fixture there exports the specs once); here one more export, a classifier with a nonzero bias."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from atomnet.boards import get_board
from atomnet.cost import BatchCoster, cost_model, get_planner, load_latency_model, plan_sram
from atomnet.ops import Op
from atomnet.search import get_space, list_spaces
from atomnet.spec import BlockSpec, Graph, HeadSpec, Layer, ModelSpec, StageSpec, Tensor, from_stage_config, lower
from atomnet.tflm import (
    ABI32,
    ABI64,
    N_COLS,
    combine,
    export_model,
    graph_records,
    layer_parts,
    segment_parts,
    tail_records,
    tails,
    tflm_tail_for_graph,
)
from atomnet.zoo import get_zoo, list_zoo

BOARD = get_board("stm32h743")


def tiny_spec() -> ModelSpec:
    """One stride-2 conv (8 channels), the pool, a 4-class classifier."""
    return ModelSpec("tiny", (8, 8), 4, (StageSpec((BlockSpec("conv", 8, stride=2, act="relu"),)),), HeadSpec())


def test_the_tail_of_a_tiny_spec_by_hand() -> None:
    """conv → MEAN → FULLY_CONNECTED: 4 activations + conv filter and bias + MEAN axis + FC filter = 8 tensors.
    64-bit: allocator objects 104 + 72 + 280 = 456, MicroBuiltinDataAllocator 16, SubgraphAllocations 16 → 488;
    eval tensors 8 × 24 → 680; nodes 3 × 64 → 872; options conv 28 → 900, MEAN 1 → 901, FC 32 (8-aligned) → 936;
    Init conv 80 (16-aligned) → 1024, MEAN 44 → 1072, FC 72 → 1152; Prepare conv 2 × 32 → 1216, FC per-class
    2 × 16 → 1248; 3 MEAN scratch handles × 8 → 1272; input: pointer array 8 (16-aligned) → 1280, TfLiteTensor 64
    → 1344, quantization struct 24 → 1368, scale + zero point 8 → 1376; output: pointer array → 1392, then → 1488."""
    t = tflm_tail_for_graph(lower(tiny_spec(), "tflm"))
    assert t.tensors == 8 and t.exact
    assert t.tail_bytes == 1488
    assert dict(t.sections) == {"allocator objects": 456, "MicroBuiltinDataAllocator + SubgraphAllocations": 32,
                                "TfLiteEvalTensor data": 192, "NodeAndRegistration struct": 192,
                                "builtin operator options": 64, "Persistent buffer data": 312 + 8 + 16,
                                "scratch buffer handles": 24, "Persistent TfLiteTensor data": 128,
                                "Persistent TfLiteTensor quantization data": 64}
    assert sum(v for _, v in t.sections) == t.tail_bytes
    assert t.tail_bytes_32 < t.tail_bytes and sum(v for _, v in t.sections_32) == t.tail_bytes_32
    # a trained classifier's nonzero bias is one more tensor: 24 B of eval tensor, which the later alignments
    # (the FC options to 8, the first op data to 16, the I/O pointer arrays to 16) turn into +16 here
    assert tflm_tail_for_graph(lower(tiny_spec(), "tflm"), fc_bias=True).tail_bytes == 1488 + 16


def test_exported_constants_follow_the_converter() -> None:
    """Per-channel conv filters and biases, one MEAN axis and one SE scalar shared by the whole model."""
    g = lower(get_zoo("atomnet-256kb"), "tflm")
    m = export_model(g)
    by_op: dict[str, int] = {}
    for ly in g.layers:
        by_op[ly.tflite_op] = by_op.get(ly.tflite_op, 0) + 1
    convs = by_op["CONV_2D"] + by_op["DEPTHWISE_CONV_2D"]
    assert len(m.tensors) == len(g.tensors) + 2 * convs + 1 + 1 + 1  # + MEAN axis + SE scalar + FC filter
    assert len(m.tensors) == 240 == 1 + sum(m.owned) + 2  # the export's count (tests/test_export.py)
    for op, ly in zip(m.ops, g.layers, strict=True):
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w, b = (m.tensors[i] for i in op.inputs[1:])
            assert (w.dtype, w.scales, b.dtype, b.scales) == ("INT8", ly.op.c_out, "INT32", ly.op.c_out)
    means = {op.inputs[1] for op in m.ops if op.name == "MEAN"}
    gates = {op.inputs[1] for op in m.ops if op.name == "MUL" and op.inputs[1] >= len(g.tensors)}
    assert len(means) == 1 and len(gates) == 1


def _blocks(g: Graph) -> tuple[np.ndarray, int]:
    """Each layer's block (stage, block) as a segment id, in order."""
    sites: dict[tuple[int, int], int] = {}
    seg = np.array([sites.setdefault((ly.stage, ly.block), len(sites)) for ly in g.layers], dtype=np.int64)
    return seg, len(sites)


def _random_specs(n: int) -> list[ModelSpec]:
    out = []
    for k, name in enumerate(list_spaces()):
        space = get_space(name)
        r, c = space.sample(np.random.default_rng(k), n)
        out += [from_stage_config(space.stage_config(int(r[i]), c[i])) for i in range(len(r))]
    return out


def test_batch_parts_equal_the_walk() -> None:
    """Blocks, single layers and the whole graph as runs: the composed parts give the walk's tail exactly, 64- and
    32-bit, on every zoo model and 4 × 40 random search-space models (many models in one vectorized call)."""
    specs = [get_zoo(z) for z in list_zoo()] + [tiny_spec()] + _random_specs(40)
    rows: list[np.ndarray] = []
    starts: list[int] = []
    want64: list[int] = []
    want32: list[int] = []
    for spec in specs:
        g = lower(spec, "tflm")
        parts = layer_parts(g)
        assert parts.shape == (len(g.layers), N_COLS)
        t = tflm_tail_for_graph(g)
        m = export_model(g)  # the whole file's records: what the memoized per-layer records add up to
        assert graph_records(g) == (tail_records(m, ABI64), tail_records(m, ABI32)) and t.tensors == len(m.tensors)
        want64.append(t.tail_bytes)
        want32.append(t.tail_bytes_32)
        seg, n = _blocks(g)
        starts.append(sum(len(r) for r in rows))
        rows.append(segment_parts(parts, seg, n))
        one64, one32 = tails(combine(parts)[None, :], np.array([0]))
        each64, each32 = tails(parts, np.array([0]))
        assert (int(one64[0]), int(one32[0]), int(each64[0]), int(each32[0])) == (t.tail_bytes, t.tail_bytes_32) * 2
    got64, got32 = tails(np.concatenate(rows), np.array(starts))
    assert got64.tolist() == want64 and got32.tolist() == want32
    assert all(a > b for a, b in zip(want64, want32, strict=True))  # 4-byte pointers: a smaller tail


def test_planner_cost_model_and_batch_carry_the_tail_for_tflm_only() -> None:
    lm = load_latency_model(BOARD)
    specs = [get_zoo(z) for z in ("mcunet-in2", "atomnet-256kb", "mcunet-vww0")] + _random_specs(5)
    bc = BatchCoster(BOARD, lm, runtime="tflm")
    fast, exact = bc.cost(specs), bc.cost(specs, exact_sram=True)
    assert fast.persistent_bytes is not None
    for k, spec in enumerate(specs):
        plan = plan_sram(spec, "tflm")
        t = tflm_tail_for_graph(lower(spec, "tflm"))
        assert (plan.persistent_bytes, plan.persistent_bytes_32) == (t.tail_bytes, t.tail_bytes_32)
        assert plan.peak_bytes == plan.arena_bytes + t.tail_bytes
        assert fast.persistent_bytes[k] == t.tail_bytes and exact.peak_sram_bytes[k] == plan.peak_bytes
        assert plan.arena_bytes <= fast.peak_sram_bytes[k] - t.tail_bytes <= plan.arena_bytes  # head bound: exact here
    rep = cost_model(specs[0], BOARD, runtime="tflm", latency_model=lm)
    assert rep.sram_breakdown == {"activations": 332_800, "scratch": 0, "persistent": 86_032, "runtime": 0}
    assert rep.peak_sram_bytes == 418_832 and rep.persistent_32bit_derived_bytes == 80_540
    assert rep.to_dict()["persistent_32bit_derived_bytes"] == 80_540
    for rt in ("tinyengine", "xcube-ai"):
        other = cost_model(specs[0], BOARD, runtime=rt, latency_model=lm)
        assert "persistent" not in other.sram_breakdown and other.persistent_32bit_derived_bytes is None
        assert "persistent_32bit_derived_bytes" not in other.to_dict()
        assert plan_sram(specs[0], rt).persistent_bytes == 0
        assert BatchCoster(BOARD, lm, runtime=rt).cost(specs).persistent_bytes is None


def test_unknown_operators_and_other_lowerings() -> None:
    g = lower(tiny_spec(), "tflm")
    odd = Graph(g.name, g.runtime, (*g.tensors, Tensor(len(g.tensors), (4, 1, 1))),
                (*g.layers, Layer("x", Op.eltwise(4, 1, 1), (g.output,), len(g.tensors), 1, 0, tflite_op="CUSTOM:X")),
                g.input, len(g.tensors))
    t = tflm_tail_for_graph(odd)
    assert not t.exact and t.unknown_ops == ("CUSTOM:X",)
    assert t.tail_bytes > tflm_tail_for_graph(g).tail_bytes  # its tensor and node are counted, no op data
    with pytest.raises(ValueError, match=r"needs a graph lowered for 'tflm', got one for 'tinyengine'"):
        tflm_tail_for_graph(lower(tiny_spec(), "tinyengine"))
    assert get_planner("tflm").persistent_parts(g) is not None and get_planner("tinyengine").persistent_parts(g) is None


def test_importing_the_rules_does_not_import_torch() -> None:
    code = "import sys, atomnet.tflm; assert 'torch' not in sys.modules and 'atomnet.export' not in sys.modules"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr


def test_a_classifier_with_a_bias_in_the_real_interpreter(tmp_path: Path) -> None:
    """A trained classifier has a nonzero bias, which the file stores (``export_int8(spec)``'s random
    initialization zeroes it and the converter drops it): ``fc_bias=True`` is the interpreter's tail."""
    torch = pytest.importorskip("torch", reason="the ML stack is not installed: pip install -r requirements-ml.txt")
    pytest.importorskip("onnx2tf", reason="the converter is not installed: pip install -r requirements-ml.txt")
    pytest.importorskip("tflite_micro", reason="tflite-micro is not installed: pip install -r requirements-ml.txt")
    from atomnet.export import export_int8, read_tflite, verify
    from atomnet.nn import build_model

    spec = tiny_spec()
    model = build_model(spec, seed=0)
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([0.1, -0.2, 0.3, -0.05]))
    calib = np.random.default_rng(0).uniform(-1, 1, size=(8, 3, 8, 8)).astype(np.float32)
    path = export_int8(model, calib, tmp_path / "tiny.tflite").path
    r = verify(path, spec)
    assert r.ok, r.problems
    fc = next(op for op in read_tflite(path).ops if op.name == "FULLY_CONNECTED")
    assert fc.inputs[2] >= 0  # the bias tensor is there
    t = tflm_tail_for_graph(lower(spec, "tflm"), fc_bias=True)
    assert (t.tail_bytes, t.tensors) == (r.tflm_tail_bytes, len(read_tflite(path).tensors))
    assert t.tail_bytes_32 == r.file_tail_bytes_32
