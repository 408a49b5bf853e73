"""Reading .tflite files and TFLM verification on small hand-built flatbuffers (no converter needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

schema = pytest.importorskip("tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
                             reason="tflite-micro is not installed: pip install -r requirements-ml.txt")
flatbuffers = pytest.importorskip("flatbuffers")

from atomnet.cost import get_planner  # noqa: E402
from atomnet.export import int8_problems, parse_tflite, read_tflite, verify  # noqa: E402


def _tensor(shape: list[int], ttype: int, buffer: int = 0, name: str = "t", scales: int = 1) -> object:
    t = schema.TensorT()
    t.shape, t.type, t.buffer, t.name = shape, ttype, buffer, name
    q = schema.QuantizationParametersT()
    q.scale, q.zeroPoint = [0.05] * scales, [0] * scales
    t.quantization = q
    return t


def _model(ops: list[tuple[str, list[int]]], shape: tuple[int, ...] = (1, 8, 8, 16), dtype: str = "INT8") -> bytes:
    """A chain of int8 element-wise operators: op ``i`` reads tensors ``inputs`` and writes tensor ``i + 1``;
    tensor 0 is the model input, the last tensor its output."""
    names = sorted({name for name, _ in ops})
    codes = []
    for name in names:
        oc = schema.OperatorCodeT()
        code = getattr(schema.BuiltinOperator, name)
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
        codes.append(oc)
    sg = schema.SubGraphT()
    sg.tensors = [_tensor(list(shape), getattr(schema.TensorType, dtype), 0, f"t{i}") for i in range(len(ops) + 1)]
    sg.operators = []
    for i, (name, inputs) in enumerate(ops):
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = names.index(name), inputs, [i + 1]
        if name == "ADD":
            op.builtinOptionsType = schema.BuiltinOptions.AddOptions
            op.builtinOptions = schema.AddOptionsT()
        elif name == "MUL":
            op.builtinOptionsType = schema.BuiltinOptions.MulOptions
            op.builtinOptions = schema.MulOptionsT()
        sg.operators.append(op)
    sg.inputs, sg.outputs = [0], [len(ops)]
    m = schema.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, codes, [sg], [schema.BufferT()]
    m.description = "atomnet test"
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@pytest.fixture()
def add_model(tmp_path: Path) -> Path:
    p = tmp_path / "add.tflite"
    p.write_bytes(_model([("ADD", [0, 0]), ("MUL", [1, 0])]))  # the input stays alive for the MUL
    return p


def test_read_ops_shapes_and_graph(add_model: Path) -> None:
    m = read_tflite(add_model)
    assert [op.name for op in m.ops] == ["ADD", "MUL"]
    assert [(t.name, t.shape, t.dtype, t.is_constant) for t in m.tensors] == [
        (f"t{i}", (1, 8, 8, 16), "INT8", False) for i in range(3)]
    assert (m.macs, m.weight_bytes, m.description) == (0, 0, "atomnet test")
    g = m.to_graph()
    assert [t.shape for t in g.tensors] == [(16, 8, 8)] * 3
    assert [(x.inputs, x.output, x.tflite_op) for x in g.layers] == [((0, 0), 1, "ADD"), ((1, 0), 2, "MUL")]


def test_tflm_arena_of_a_single_add_equals_the_planner(add_model: Path) -> None:
    """Three 1,024-byte tensors all live at the MUL: TFLM's head is 3,072 bytes, and so is our planner's."""
    r = verify(add_model)
    assert r.loaded and r.int8_problems == ()
    assert r.tflm_head_bytes == r.file_plan_bytes == 3 * 1024
    assert r.ok
    assert get_planner("tflm").plan(read_tflite(add_model).to_graph()).arena_bytes == 3072


def test_unloadable_operator_is_reported_not_raised(tmp_path: Path) -> None:
    """RELU_0_TO_1 (what onnx2tf makes of F.hardsigmoid) parses but TFLite Micro has no kernel for it."""
    p = tmp_path / "relu01.tflite"
    p.write_bytes(_model([("RELU_0_TO_1", [0])]))
    assert [op.name for op in read_tflite(p).ops] == ["RELU_0_TO_1"]
    r = verify(p)
    assert not r.loaded and not r.ok
    assert "RELU_0_TO_1" in r.error and str(p) in r.error
    assert r.problems[0].startswith("does not load in TFLite Micro")


@pytest.mark.parametrize("damage", ["truncated", "zeroed-tail", "not-tflite", "empty"])
def test_damaged_files_raise_value_error_naming_the_file(add_model: Path, damage: str) -> None:
    data = add_model.read_bytes()
    bad = {"truncated": data[: len(data) // 2], "zeroed-tail": data[:16] + bytes(len(data) - 16),
           "not-tflite": b"PK\x03\x04" + bytes(100), "empty": b""}[damage]
    p = add_model.with_name(f"{damage}.tflite")
    p.write_bytes(bad)
    with pytest.raises(ValueError, match=f"{damage}.tflite: ") as e:
        read_tflite(p)
    assert "Traceback" not in str(e.value)
    with pytest.raises(ValueError, match=f"{damage}.tflite"):
        verify(p)


def test_missing_file_and_raw_bytes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nothing\.tflite: cannot read the file"):
        read_tflite(tmp_path / "nothing.tflite")
    assert parse_tflite(_model([("MUL", [0, 0])])).ops[0].name == "MUL"
    with pytest.raises(ValueError, match="<bytes>: not a TFLite model"):
        parse_tflite(b"hello world")


def test_float_operators_are_named(tmp_path: Path) -> None:
    m = parse_tflite(_model([("ADD", [0, 0]), ("MUL", [1, 0])], dtype="FLOAT32"), "float.tflite")
    assert [op.name for op in m.float_ops()] == ["ADD", "MUL"]
    assert int8_problems(m) == ["operator 0 ADD has float tensors (FLOAT32)",
                                "operator 1 MUL has float tensors (FLOAT32)",
                                "model input 't0' is FLOAT32, expected INT8",
                                "model output 't2' is FLOAT32, expected INT8"]
    p = tmp_path / "float.tflite"
    p.write_bytes(_model([("ADD", [0, 0])], dtype="FLOAT32"))
    r = verify(p)
    assert r.loaded and not r.ok and "operator 0 ADD has float tensors (FLOAT32)" in r.problems


def test_equal_size_buffers_are_placed_in_tflm_order(tmp_path: Path) -> None:
    """Six 256-byte tensors: TFLM's tie order gives a 1,024-byte head where add order would give 768."""
    p = tmp_path / "ties.tflite"
    p.write_bytes(_model([("ADD", [0, 0]), ("ADD", [1, 1]), ("ADD", [1, 2]), ("ADD", [1, 3]), ("ADD", [4, 3])],
                         shape=(1, 4, 4, 16)))
    r = verify(p)
    assert r.tflm_head_bytes == 1024
    assert r.file_plan_bytes == r.tflm_head_bytes


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atomnet", *args], capture_output=True, text=True, timeout=600,
                          check=False)


def test_cost_of_an_int8_tflite_reports_the_planner_arena(add_model: Path, tmp_path: Path) -> None:
    """`atomnet cost FILE.tflite`: validated, then MACs / weights / Flash / the whole TFLM arena (the head: the
    tflm planner's 3,072 B, TFLM's head for this file, see above; plus the persistent tail) and latency; any
    tensor type and runtime is costed (tests/test_cost_tflite.py has the details)."""
    import json

    from atomnet.export._arena import plan_tflm_arena

    r = _cli("cost", str(add_model), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    tail = plan_tflm_arena(read_tflite(add_model)).tail_bytes
    assert (d["runtime"], d["ops"], d["macs"], d["sram_breakdown"]["activations"]) == ("tflm", 2, 0, 3072)
    assert d["peak_sram_bytes"] == 3072 + tail == 3072 + d["sram_breakdown"]["persistent"]
    assert d["flash_bytes"] == d["file_bytes"] + d["code_bytes"] == add_model.stat().st_size + 64 * 1024
    assert [ly["live_sram_bytes"] for ly in d["layers"]] == [2048, 3072]
    assert [ly["source"] for ly in d["layers"]] == ["predicted+transfer", "unpriced"]  # no MUL measured
    assert d["latency_ms"] == d["layers"][0]["latency_ms"] > 0 and d["latency_is_lower_bound"]
    r = _cli("cost", str(add_model), "--no-layers")
    assert r.returncode == 0 and f"peak SRAM       {(3072 + tail) / 1024:.1f} KB ({3072 + tail:,} B)" in r.stdout
    fl = tmp_path / "float.tflite"
    fl.write_bytes(_model([("ADD", [0, 0])], dtype="FLOAT32"))
    r = _cli("cost", str(fl), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["unpriced"] == [
        {"layer": "0.ADD", "op": "ADD", "reason": "FLOAT32 tensors: the AtomDB holds int8 kernels only"}]
    r = _cli("cost", str(add_model), "--runtime", "xcube-ai")
    assert r.returncode == 0 and "(xcube-ai planner on the file graph)" in r.stdout
    tiny = tmp_path / "tiny.json"  # a board with 2 KB of SRAM: the arena does not fit (exit 1)
    tiny.write_text(json.dumps({"name": "tiny", "core": "cortex-m0", "clock_mhz": 48, "sram": "2KB", "flash": "1MB"}))
    r = _cli("cost", str(add_model), "--board", str(tiny), "--no-layers")
    assert r.returncode == 1 and "** OVER the board's 2.0 KB **" in r.stdout and "fits tiny: NO" in r.stdout


def test_validate_tflite_lists_problems_without_raising(add_model: Path, tmp_path: Path) -> None:
    from atomnet.export import validate_tflite

    assert validate_tflite(add_model) == []
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"nope")
    assert validate_tflite(bad) == ["not a TFLite model (no 'TFL3' file identifier; 4 bytes)"]
    assert validate_tflite(tmp_path / "missing.tflite") == ["cannot read the file (No such file or directory)"]
