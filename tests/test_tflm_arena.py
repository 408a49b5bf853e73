"""plan_tflm_arena — the exact TFLite Micro arena (head, tail, total) of any .tflite — held to the real
interpreter (tflite-micro, run in a child process) on every public model of ../shared/models/tflite and on
small hand-built flatbuffers (offline memory plan, control flow, every tensor type)."""

from __future__ import annotations

import struct
from importlib import metadata
from pathlib import Path

import pytest

schema = pytest.importorskip("tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
                             reason="tflite-micro is not installed: pip install -r requirements-ml.txt")
flatbuffers = pytest.importorskip("flatbuffers")

from atomnet.export import TFLiteError, TFLMError, parse_tflite, plan_tflm_arena, read_tflite, verify  # noqa: E402
from atomnet.export._isolate import run_tflm_isolated  # noqa: E402
from atomnet.tflm import ABI32, ABI64, TFLM_ITEMSIZE, TFLM_VERSION  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "tflite"  # ../shared (conftest)
FILES = sorted(p.name for p in CORPUS.glob("*.tflite"))
#: the corpus files TFLite Micro refuses, with the words of its reason (SOURCES.md says why)
REFUSED = {"mlc_ToyCar_quant.tflite": "Input type: FLOAT32 with filter type: INT8 not supported",
           "mlc_kws_ref_model_float32.tflite": "Hybrid models are not supported",
           "tflm_person_detect_vela.tflite": "Failed to get registration from op code CUSTOM"}


def test_kernel_table_is_for_the_installed_tflite_micro() -> None:
    installed = metadata.version("tflite-micro")
    assert installed == TFLM_VERSION, (
        f"tflite-micro {installed} is installed but atomnet/tflm/_kernels.py was derived from {TFLM_VERSION}: "
        "re-derive the table (struct sizes, each kernel's op data, options and scratch) against the new wheel "
        "and update TFLM_VERSION; tests/test_tflm_arena.py::test_corpus_arena_equals_the_interpreter shows "
        "which sizes moved")


def test_corpus_is_there() -> None:
    assert len(FILES) == 28, f"expected the 28 public models of {CORPUS}, found {len(FILES)}"


@pytest.mark.parametrize("name", FILES)
def test_corpus_arena_equals_the_interpreter(name: str) -> None:
    """Head, tail and total byte for byte where TFLite Micro loads the file; its reason where it does not."""
    m = read_tflite(CORPUS / name)
    ours = plan_tflm_arena(m)
    if name in REFUSED:
        with pytest.raises(TFLMError, match=REFUSED[name]):
            run_tflm_isolated(CORPUS / name, None, None, notes=m.notes)
        return
    real = run_tflm_isolated(CORPUS / name, None, None, notes=m.notes).usage
    assert ours.exact and ours.unknown_ops == ()
    assert (ours.head_bytes, ours.tail_bytes, ours.total_bytes) == (real.head_bytes, real.tail_bytes,
                                                                     real.total_bytes)
    recorded = {s[0]: s[1] for s in real.sections}  # the parts RecordingMicroAllocator names
    for section, used in ours.tail_sections:
        if section in recorded:
            assert used == recorded[section], section
    assert len(ours.live_bytes) == len(m.ops) and max(ours.live_bytes) <= ours.head_bytes
    assert ours.tail_bytes_32 < ours.tail_bytes  # 4-byte pointers: a smaller tail, never measured
    assert ours.tflm_version == TFLM_VERSION


def test_refused_files_are_reported_by_verify_with_tflm_reason() -> None:
    for name, why in REFUSED.items():
        r = verify(CORPUS / name)
        assert not r.loaded and why in r.error and str(CORPUS / name) in r.error
        assert r.problems[0].startswith("does not load in TFLite Micro") and "Traceback" not in r.error


def test_unknown_custom_operator_is_an_opaque_node_and_a_lower_bound() -> None:
    a = plan_tflm_arena(read_tflite(CORPUS / "tflm_person_detect_vela.tflite"))
    assert a.unknown_ops == ("CUSTOM:ethos-u",) and not a.exact
    assert "lower bound" in a.notes[0]


# ---- the reader --------------------------------------------------------------------------------------
def test_several_inputs_and_outputs() -> None:
    for name in ("tflm_simple_add.tflite", "seanet_add0.tflite"):
        m = read_tflite(CORPUS / name)
        assert len(m.inputs) == 2 and len(m.outputs) == 1 and [op.name for op in m.ops] == ["ADD"]
    r = verify(CORPUS / "seanet_add0.tflite")  # int16: not int8, but the arena is still compared
    assert r.loaded and r.file_plan_bytes == r.tflm_head_bytes == 1920
    assert (r.file_tail_bytes, r.file_total_bytes) == (r.tflm_tail_bytes, r.tflm_total_bytes)
    assert r.int8_problems and not any("arena" in p or "planner" in p for p in r.problems)


def test_operators_with_several_outputs() -> None:
    m = read_tflite(CORPUS / "tflm_audio_preprocessor_int8.tflite")
    multi = {op.name: len(op.outputs) for op in m.ops if len(op.outputs) > 1}
    assert multi == {"CUSTOM:SignalFftAutoScale": 2, "CUSTOM:SignalFilterBankSpectralSubtraction": 2}
    rfft = next(op for op in m.ops if op.name == "CUSTOM:SignalRfft")
    assert rfft.is_custom and rfft.custom_options  # the flexbuffer the kernel sizes its state from


def test_variable_tensors_live_in_the_tail() -> None:
    m = read_tflite(CORPUS / "tflm_keyword_scrambled.tflite")
    state = [t for t in m.tensors if t.is_variable]
    assert len(state) == 7 and {t.dtype for t in state} == {"INT16"}
    a = plan_tflm_arena(m)
    assert dict(a.tail_sections)["TfLiteTensor variable buffer data"] == sum(t.nbytes for t in state) == 10240


def test_lstm_state_is_not_planned_in_the_head() -> None:
    m = read_tflite(CORPUS / "tflm_mnist_lstm.tflite")
    state = [t for t in m.tensors if t.is_variable]
    assert [(t.shape, t.dtype) for t in state] == [((1, 20), "FLOAT32")] * 2
    a = plan_tflm_arena(m)
    assert dict(a.tail_sections)["TfLiteTensor variable buffer data"] == 160
    assert a.scratch_bytes[0] == 4 * 4 * 20  # four float gate buffers of batch × cell


# ---- hand-built flatbuffers ------------------------------------------------------------------------------
def _model(tensors: list[tuple[list[int], str]], ops: list[tuple[str, list[int], list[int]]], inputs: list[int],
           outputs: list[int], metadata_: dict[str, bytes] | None = None, extra_subgraphs: int = 0,
           options: dict[int, tuple[str, object]] | None = None) -> bytes:
    m = schema.ModelT()
    m.version, m.buffers, m.operatorCodes = 3, [schema.BufferT()], []
    sg = schema.SubGraphT()
    sg.tensors = []
    for k, (shape, dtype) in enumerate(tensors):
        t = schema.TensorT()
        t.shape, t.type, t.buffer, t.name = shape, getattr(schema.TensorType, dtype), 0, f"t{k}"
        sg.tensors.append(t)
    names: list[str] = []
    sg.operators = []
    for j, (name, ins, outs) in enumerate(ops):
        if name not in names:
            names.append(name)
            oc = schema.OperatorCodeT()
            code = getattr(schema.BuiltinOperator, name)
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
            m.operatorCodes.append(oc)
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = names.index(name), ins, outs
        if options and j in options:
            op.builtinOptionsType = getattr(schema.BuiltinOptions, options[j][0])
            op.builtinOptions = options[j][1]
        sg.operators.append(op)
    sg.inputs, sg.outputs = inputs, outputs
    subs = [sg]
    for _ in range(extra_subgraphs):
        s = schema.SubGraphT()
        s.tensors, s.operators, s.inputs, s.outputs = [], [], [], []
        subs.append(s)
    m.subgraphs = subs
    m.metadata = []
    for key, data in (metadata_ or {}).items():
        b = schema.BufferT()
        b.data = list(data)
        m.buffers.append(b)
        md = schema.MetadataT()
        md.name, md.buffer = key, len(m.buffers) - 1
        m.metadata.append(md)
    fb = flatbuffers.Builder(1024)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output())


def test_element_size_of_every_tensor_type() -> None:
    types = ["INT8", "UINT8", "INT16", "INT32", "UINT32", "INT64", "UINT64", "FLOAT16", "FLOAT32", "FLOAT64",
             "BOOL", "COMPLEX64", "COMPLEX128", "INT4"]
    m = parse_tflite(_model([([3, 5], t) for t in types], [], [0], [1]))
    sizes = {t.dtype: t.nbytes // 15 for t in m.tensors}
    assert sizes == {"INT8": 1, "UINT8": 1, "INT16": 2, "INT32": 4, "UINT32": 4, "INT64": 8, "UINT64": 8,
                     "FLOAT16": 2, "FLOAT32": 4, "FLOAT64": 8, "BOOL": 1, "COMPLEX64": 8, "COMPLEX128": 16,
                     "INT4": 1}
    assert all(TFLM_ITEMSIZE[t] == sizes[t] for t in types)  # TFLM stores int4 activations one per byte


def test_unsupported_tensor_type_is_named() -> None:
    m = parse_tflite(_model([([4], "FLOAT32"), ([4], "UINT16")], [("CAST", [0], [1])], [0], [1]), "u16.tflite")
    with pytest.raises(TFLiteError, match=r"u16\.tflite: tensor 1 't1' has type UINT16, which TFLite Micro"):
        plan_tflm_arena(m)


def _offline(offsets: list[int]) -> bytes:
    return struct.pack(f"<3i{len(offsets)}i", 1, 0, len(offsets), *offsets)


def test_offline_memory_plan_is_honoured(tmp_path: Path) -> None:
    """Three 1,024-byte float tensors with offline offsets 4096 / 0 / 8192 (an online plan needs 2,048 B):
    the head is the offline layout's end, as in TFLM."""
    tensors = [([1, 256], "FLOAT32")] * 3
    ops = [("RELU", [0], [1]), ("RELU", [1], [2])]
    planned = _model(tensors, ops, [0], [2], {"OfflineMemoryAllocation": _offline([4096, 0, 8192])})
    online = _model(tensors, ops, [0], [2])
    for name, data, head in (("offline", planned, 8192 + 1024), ("online", online, 2048)):
        p = tmp_path / f"{name}.tflite"
        p.write_bytes(data)
        m = read_tflite(p)
        a = plan_tflm_arena(m)
        real = run_tflm_isolated(p, None, None).usage
        assert (a.head_bytes, a.tail_bytes) == (real.head_bytes, real.tail_bytes) and a.head_bytes == head, name
    assert read_tflite(tmp_path / "offline.tflite").offline_offsets == (4096, 0, 8192)


def test_offline_plan_with_the_wrong_tensor_count_is_refused_as_tflm_does() -> None:
    m = parse_tflite(_model([([1, 8], "FLOAT32")] * 2, [("RELU", [0], [1])], [0], [1],
                            {"OfflineMemoryAllocation": _offline([0])}), "bad-plan.tflite")
    with pytest.raises(TFLiteError, match="offline memory plan has 1 offsets but the model has 2 tensors"):
        plan_tflm_arena(m)


def test_unused_tensors_share_the_scope_before_the_first_operator(tmp_path: Path) -> None:
    """A tensor no operator touches is planned with the lifetime [-1, -1]: such tensors overlap each other."""
    p = tmp_path / "unused.tflite"
    p.write_bytes(_model([([1, 4], "FLOAT32")] * 5, [("RELU", [0], [1])], [0], [1]))
    a = plan_tflm_arena(read_tflite(p))
    real = run_tflm_isolated(p, None, None).usage
    assert (a.head_bytes, a.tail_bytes) == (real.head_bytes, real.tail_bytes) == (48, 864)


def test_control_flow_is_refused_naming_the_subgraphs() -> None:
    opts = schema.IfOptionsT()
    opts.thenSubgraphIndex, opts.elseSubgraphIndex = 1, 2
    data = _model([([1], "BOOL"), ([1, 4], "FLOAT32"), ([1, 4], "FLOAT32")], [("IF", [0, 1], [2])], [0, 1], [2],
                  extra_subgraphs=2, options={0: ("IfOptions", opts)})
    m = parse_tflite(data, "if.tflite")
    assert m.control_flow == ((0, "IF", (1, 2)),) and m.subgraphs == 3
    with pytest.raises(TFLiteError, match=r"if\.tflite: control flow is not supported: operator 0 \(IF\) runs "
                                          r"subgraphs 1, 2 \(the model has 3 subgraphs"):
        plan_tflm_arena(m)


def test_32_bit_tail_is_derived_from_the_same_rules() -> None:
    m = read_tflite(CORPUS / "tflm_person_detect.tflite")
    a = plan_tflm_arena(m)
    s64, s32 = dict(a.tail_sections), dict(a.tail_sections_32)
    assert s64["TfLiteEvalTensor data"] == ABI64.eval_tensor[0] * len(m.tensors) == 24 * 89
    assert s32["TfLiteEvalTensor data"] == ABI32.eval_tensor[0] * len(m.tensors) == 12 * 89
    assert s32["NodeAndRegistration struct"] == 32 * len(m.ops)
    assert a.head_bytes_32 == a.head_bytes and a.total_bytes_32 == a.head_bytes + a.tail_bytes_32


def test_corpus_table_script(capsys: pytest.CaptureFixture[str]) -> None:
    from atomnet.export._arena_table import main

    assert main([str(CORPUS / "tflm_person_detect.tflite"), str(CORPUS / "tflm_person_detect_vela.tflite")]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("tflm_person_detect.tflite"))
    assert line.split()[2:8] == ["55,296", "29,968", "85,264"] * 2 and line.split()[-1] == "exact"
    assert "TFLM refuses: Failed to get registration from op code CUSTOM" in out
    assert "1 of 1 files the interpreter loads: head, tail and total exact" in out
