"""Costing any .tflite file like a spec (issue 12, parts 3 and 4): the element-wise key carries its function and
only measured functions are priced; a file as each runtime executes it (file_graph); cost_tflite per operator and
in total for tflm / tinyengine / xcube-ai; ``atomnet cost FILE.tflite`` and ``atomnet analyze --model FILE``.

Real files only: the public corpus in ../shared/models/tflite (SOURCES.md) and int8 exports of zoo models made
here with the real converter (module fixture, random calibration seed 0, as tests/test_export.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from atomnet.analyze import analyze_file
from atomnet.boards import get_board
from atomnet.cli import main
from atomnet.cost import LatencyModel, cost_model, get_planner, load_latency_model
from atomnet.db import AtomDB, NoPredictorError
from atomnet.errors import InputError, UnknownNameError
from atomnet.export import cost_tflite, file_graph, read_tflite
from atomnet.ops import ELTWISE_FNS, Op
from atomnet.runtimes import get_runtime
from atomnet.spec import lower
from atomnet.zoo import get_zoo
from test_sram import TINYENGINE_PEAKS

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "models" / "tflite"
PERSON = CORPUS / "tflm_person_detect.tflite"
BOARD = get_board("stm32h743")


@pytest.fixture(scope="module")
def lm(public_db_path: Path) -> Iterator[LatencyModel]:
    with AtomDB(public_db_path) as db:
        yield load_latency_model(BOARD, db)


# ---- the element-wise function in the key ---------------------------------------------------------------------
def test_eltwise_key_carries_the_function_and_add_keeps_the_old_key() -> None:
    add, mul = Op.eltwise(16, 5, 5), Op.eltwise(16, 5, 5, fn="mul")
    assert add.key == (4, 16, 5, 5, 16, 5, 5, 0, 1, 1) == Op.eltwise(16, 5, 5, fn="ADD").key  # stored keys unchanged
    assert mul.key != add.key and mul.kernel == ELTWISE_FNS.index("mul") == 1
    assert (add.eltwise_fn, mul.eltwise_fn, Op.from_key(mul.key).eltwise_fn) == ("add", "mul", "mul")
    assert Op.eltwise(8, 2, 2, fn="HARD_SWISH").describe() == "eltwise hard_swish 8x2x2->8x2x2"
    assert Op.pointwise(8, 2, 2, 8).eltwise_fn == ""
    with pytest.raises(UnknownNameError, match="unknown element-wise function 'softmax'"):
        Op.eltwise(8, 2, 2, fn="softmax")
    with pytest.raises(InputError, match=r"Op\.kernel: an eltwise key stores its element-wise function"):
        Op("eltwise", 8, 2, 2, 8, 2, 2, len(ELTWISE_FNS), 1, 1)


def test_only_measured_functions_are_priced(lm: LatencyModel) -> None:
    """The public AtomDB's element-wise rows are residual ADDs: ADD is exact where measured and predicted
    elsewhere; MUL / HARD_SWISH of the same shape get no latency (no extrapolation from ADD)."""
    measured = Op.eltwise(80, 8, 8)  # atomdb.csv line 22 and others: eltwise 80x8x8, median 0.449 ms
    keys = [measured.key, Op.eltwise(24, 7, 9).key, Op.eltwise(80, 8, 8, fn="mul").key,
            Op.eltwise(80, 8, 8, fn="hard_swish").key]
    lat, exact = lm.price_keys_partial(keys)
    assert lat[0] == pytest.approx(0.449) and exact.tolist() == [True, False, False, False]
    assert np.isfinite(lat[1]) and np.isnan(lat[2:]).all()
    assert lm.unpriced_reason(keys[2]) == ("element-wise MUL was never measured on stm32h743 and the element-wise "
                                           "predictor is fitted on ADD only")
    assert lm.unpriced_reason(keys[1]) == ""
    with pytest.raises(NoPredictorError, match="no measurement of eltwise mul 80x8x8->80x8x8 on stm32h743"):
        lm.price_keys(keys)


def test_spec_lowerings_name_their_element_wise_functions() -> None:
    """The SE multiply and TFLM's separate h-swish carry MUL / HARD_SWISH; the graph latency is priced on
    (xcube-ai) keeps its residual ADDs only, so every spec cost is unchanged."""
    fns = {ly.op.eltwise_fn for ly in lower(get_zoo("atomnet-256kb"), "tflm").layers if ly.op.kind == "eltwise"}
    assert fns == {"add", "mul", "hard_swish"}
    assert {ly.op.eltwise_fn for ly in lower(get_zoo("atomnet-256kb"), "xcube-ai").layers
            if ly.op.kind == "eltwise"} == {"add"}


# ---- person_detect: every runtime ----------------------------------------------------------------------------
def _file_macs(path: Path) -> int:
    """MACs counted here from the file's tensors: filter elements × output pixels of every conv / depthwise."""
    m = read_tflite(path)
    total = 0
    for op in m.ops:
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w, out = m.tensors[op.inputs[1]].shape, m.tensors[op.outputs[0]].shape
            per = w[0] * w[1] * w[2] * w[3] if op.name == "CONV_2D" else w[1] * w[2] * w[3]
            total += per * out[1] * out[2]
    return total


def test_person_detect_on_tflm(lm: LatencyModel) -> None:
    from atomnet.export._arena import plan_tflm_arena

    c = cost_tflite(PERSON, BOARD, latency_model=lm)
    m = read_tflite(PERSON)
    arena = plan_tflm_arena(m)
    assert (c.runtime, c.latency_runtime, c.ops, len(c.layers)) == ("tflm", "xcube-ai", 31, 31)
    assert c.macs == _file_macs(PERSON) == 7_157_888 and c.weights_bytes == 207_968
    assert c.peak_sram_bytes == arena.total_bytes == arena.head_bytes + arena.tail_bytes
    assert c.sram_breakdown == {"activations": arena.head_bytes, "scratch": 0, "persistent": arena.tail_bytes,
                                "runtime": 0}
    assert c.persistent_32bit_derived_bytes == arena.tail_bytes_32
    assert [ly.live_sram_bytes for ly in c.layers] == [int(v) for v in arena.live_bytes]
    assert c.flash_bytes == c.file_bytes + c.code_bytes == PERSON.stat().st_size + 64 * 1024
    convs = [ly for ly in c.layers if ly.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert len(convs) == 28 and all(ly.source in ("exact", "predicted") and ly.dtype == "INT8" for ly in convs)
    assert (c.ops_exact, c.ops_predicted, c.ops_unpriced) == (26, 3, 1)
    assert c.unpriced == (("30.SOFTMAX", "SOFTMAX", "no atom operator for SOFTMAX"),) and c.latency_is_lower_bound
    assert c.layers[29].source == "dropped"  # RESHAPE: a view in X-CUBE-AI
    assert c.latency_ms == pytest.approx(sum(ly.latency_ms or 0.0 for ly in c.layers))
    assert c.latency_ms == pytest.approx(sum(c.latency_by_kind_ms.values()))
    first = c.layers[0]  # the 1→8 channel-multiplier depthwise at the input, after X-CUBE-AI's explicit pad
    assert first.atom_op == "pad 1x96x96->1x98x98 + depthwise k3s2 1x98x98->8x48x48"
    assert [ly.stage for ly in c.layers][:8] == [0, 0, 0, 1, 1, 1, 1, 2]


def test_person_detect_per_runtime(lm: LatencyModel) -> None:
    """Latency is priced on one graph whatever the runtime; SRAM and Flash are each runtime's."""
    by = {rt: cost_tflite(PERSON, BOARD, runtime=rt, latency_model=lm) for rt in ("tflm", "tinyengine", "xcube-ai")}
    assert len({round(c.latency_ms, 9) for c in by.values()}) == 1
    te, xc = by["tinyengine"], by["xcube-ai"]
    m = read_tflite(PERSON)
    xc_plan = get_planner("xcube-ai").plan(file_graph(m, "xcube-ai").graph)  # the planner's own model, on the file
    assert te.peak_sram_bytes == 60_296
    assert xc.peak_sram_bytes == xc_plan.peak_bytes + get_runtime("xcube-ai").ram_overhead_bytes
    assert te.peak_sram_by_runtime_bytes == xc.peak_sram_by_runtime_bytes == {
        "tflm": by["tflm"].peak_sram_bytes, "tinyengine": 60_296, "xcube-ai": xc.peak_sram_bytes}
    # TinyEngine: arena (the 48×48×16 output beside its input) + the largest im2col / kernel buffers
    assert te.sram_breakdown["activations"] == 55_296 and te.sram_breakdown["persistent"] == 0
    fg = file_graph(m, "tinyengine")
    assert sum(ly.inplace for ly in fg.graph.layers) == 13  # every depthwise with multiplier 1 runs in place
    assert te.flash_breakdown["quant"] == te.flash_breakdown["bias"] == 10_952  # 4 B per output channel each
    xrt = get_runtime("xcube-ai")  # the runtime's Flash model per layer on the file graph, plus its code
    quant = sum(xrt.flash.layer(ly.op)[2] for ly in file_graph(m, "xcube-ai").graph.layers if ly.op.kind_info.weighted)
    assert xc.flash_bytes == xc.const_bytes + quant + xrt.flash.code_bytes


def test_float_model_is_costed_with_its_convs_unpriced(lm: LatencyModel, capsys: pytest.CaptureFixture[str]) -> None:
    c = cost_tflite(CORPUS / "mlc_vww_96_float.tflite", BOARD, latency_model=lm)
    convs = [ly for ly in c.layers if ly.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert len(convs) == 27 and all(ly.source == "unpriced" and ly.latency_ms is None for ly in convs)
    assert {ly.reason for ly in convs} == {"FLOAT32 tensors: the AtomDB holds int8 kernels only"}
    assert c.latency_is_lower_bound and c.latency_ms == 0.0 and c.ops_unpriced == 30
    # its int8 twin: the same operators, priced (SOFTMAX aside)
    q = cost_tflite(CORPUS / "mlc_vww_96_int8.tflite", BOARD, latency_model=lm)
    assert q.ops_unpriced == 1 and q.latency_ms > 10 and q.macs == c.macs
    # float tensors take 4 bytes per element (TFLM's head)
    assert c.sram_breakdown["activations"] == 4 * q.sram_breakdown["activations"] == 294_912


def test_vocabulary_limits_are_unpriced(lm: LatencyModel) -> None:
    kws = cost_tflite(CORPUS / "mlc_kws_ref_model.tflite", BOARD, latency_model=lm)
    assert kws.layers[0].source == "unpriced" and kws.layers[0].reason == (
        "kernel 10x4 stride 2x2: the atom vocabulary has square kernels and strides only")
    lstm = cost_tflite(CORPUS / "tflm_dtln_noise_suppression.tflite", BOARD, latency_model=lm)
    assert {r for _, _, r in lstm.unpriced} >= {"no atom operator for UNIDIRECTIONAL_SEQUENCE_LSTM"}
    audio = cost_tflite(CORPUS / "tflm_audio_preprocessor_int8.tflite", BOARD, latency_model=lm)
    assert "no atom operator for custom operator SignalFftAutoScale" in {r for _, _, r in audio.unpriced}


def test_multi_input_and_multi_output_files() -> None:
    """Two model inputs live together at the ADD; an operator's second output stays live from that operator."""
    add = read_tflite(CORPUS / "tflm_simple_add.tflite")  # 2 × 16 KB int8 inputs → 16 KB output
    for rt in ("tinyengine", "xcube-ai"):
        fg = file_graph(add, rt)
        assert len(fg.graph.layers) == 1 and fg.graph.layers[0].op == Op.eltwise(1, 128, 128)
    assert get_planner("tinyengine").plan(file_graph(add, "tinyengine").graph).peak_bytes == 3 * 128 * 128
    audio = read_tflite(CORPUS / "tflm_audio_preprocessor_int8.tflite")
    fg = file_graph(audio, "tflm")
    fft = fg.layers[2]  # CUSTOM:SignalFftAutoScale: two outputs, the second read later
    second = fg.tensor_ids[audio.ops[2].outputs[1]]
    assert fft.atom is None and second in fg.graph.layers[2].inputs and second not in fft.inputs


def test_every_corpus_file_costs_on_every_runtime(lm: LatencyModel) -> None:
    """All 28 files, TFLM's refused ones included: a report, never a traceback; unpriced operators listed."""
    files = sorted(CORPUS.glob("*.tflite"))
    assert len(files) == 28
    for f in files:
        m = read_tflite(f)
        for rt in ("tflm", "tinyengine", "xcube-ai"):
            c = cost_tflite(m, BOARD, runtime=rt, latency_model=lm)
            assert c.peak_sram_bytes > 0 and len(c.layers) == len(m.ops), (f.name, rt)
            assert c.latency_is_lower_bound == (c.ops_unpriced > 0)
            assert all((ly.latency_ms is None) == (ly.source in ("unpriced", "fused", "dropped")) for ly in c.layers)


# ---- the zoo exports: the file priced like its spec ------------------------------------------------------------
@pytest.fixture()
def exports(zoo_int8_exports: dict[str, Path]) -> dict[str, Path]:
    """The session's int8 zoo exports (tests/conftest.py: made once, shared with tests/test_deploy*.py)."""
    return {n: zoo_int8_exports[n] for n in (*TINYENGINE_PEAKS, "stress")}  # the fixture holds the whole zoo


@pytest.mark.slow  # the fixture exports 10 models (~170 s on 2 shared cores)
def test_zoo_exports_plan_like_their_specs(exports: dict[str, Path], lm: LatencyModel) -> None:
    """The tinyengine planner on each file graph gives the published peak; the tinyengine and xcube-ai file
    graphs have exactly the operator keys of the spec's lowerings, so the file's latency is the spec's."""
    from test_export import stress_spec

    for name, path in exports.items():
        m = read_tflite(path)
        spec = stress_spec() if name == "stress" else get_zoo(name)
        for rt in ("tinyengine", "xcube-ai"):
            fg, g = file_graph(m, rt), lower(spec, rt)
            assert [ly.op.key for ly in fg.graph.layers] == [ly.op.key for ly in g.layers], (name, rt)
            assert get_planner(rt).plan(fg.graph).peak_bytes == get_planner(rt).plan(g).peak_bytes, (name, rt)
        if name in TINYENGINE_PEAKS:
            assert get_planner("tinyengine").plan(file_graph(m, "tinyengine").graph).peak_bytes == \
                TINYENGINE_PEAKS[name]
        c = cost_tflite(m, BOARD, runtime="tinyengine", latency_model=lm)
        rep = cost_model(spec, BOARD, runtime="tinyengine", latency_model=lm)
        assert (c.latency_ms, c.peak_sram_bytes, c.macs) == (pytest.approx(rep.latency_ms), rep.peak_sram_bytes,
                                                             rep.macs), name
        assert not c.latency_is_lower_bound, name
    se = file_graph(read_tflite(exports["stress"]), "xcube-ai")
    assert sum(ly.op.kind == "se" for ly in se.graph.layers) == 4  # each MEAN → 1×1 → 1×1 → MUL → MUL is one Op.se


# ---- CLI -------------------------------------------------------------------------------------------------------
def _cost_cli(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> tuple[int, str, str]:
    rc = main(["--db", str(db), "cost", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_cost_json_and_text(public_db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _cost_cli(capsys, public_db_path, str(PERSON), "--json")
    d = json.loads(out)
    assert rc == 0 and d["fits"] is True and d["over_limits"] == []
    assert d["peak_sram_bytes"] == d["sram_breakdown"]["activations"] + d["sram_breakdown"]["persistent"]
    assert d["latency_is_lower_bound"] is True and d["unpriced"] == [
        {"layer": "30.SOFTMAX", "op": "SOFTMAX", "reason": "no atom operator for SOFTMAX"}]
    assert set(d["layers"][0]) >= {"name", "op", "atom_op", "in_shape", "out_shape", "macs", "weights_bytes",
                                   "flash_bytes", "live_sram_bytes", "latency_ms", "source", "reason"}
    assert d["persistent_32bit_derived_bytes"] is not None and d["tflm_version"]
    # each runtime's latency: the H743 X-CUBE-AI prices times the board's transfer for that runtime (docs/transfer.md)
    assert {ly["source"] for ly in d["layers"] if ly["latency_ms"] is not None} <= {"exact+transfer",
                                                                                    "predicted+transfer"}
    rc, out, _ = _cost_cli(capsys, public_db_path, str(PERSON), "--json", "--runtime", "tinyengine")
    te = json.loads(out)
    rc, out, _ = _cost_cli(capsys, public_db_path, str(PERSON), "--no-layers", "--runtime", "tinyengine")
    assert rc == 0 and "peak SRAM       58.9 KB (60,296 B) = activations 54.0 KB" in out
    assert f"≥ {te['latency_ms']:.1f} ms (lower bound: 1 operator not priced, listed below)" in out
    assert te["latency_ms"] != pytest.approx(d["latency_ms"])  # TinyEngine and TFLM transfers differ
    assert "    not priced: 30.SOFTMAX: no atom operator for SOFTMAX" in out
    rc, out, _ = _cost_cli(capsys, public_db_path, str(PERSON))
    assert rc == 0 and out.splitlines()[0].split()[:2] == ["operator", "atom"] and "30.SOFTMAX" in out


def test_cli_cost_exit_statuses(public_db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny = tmp_path / "tiny.json"  # 32 KB of SRAM: person_detect's arena does not fit
    tiny.write_text(json.dumps({"name": "tiny", "core": "cortex-m0", "clock_mhz": 48, "sram": "32KB", "flash": "2MB"}))
    rc, out, _ = _cost_cli(capsys, public_db_path, str(PERSON), "--board", str(tiny), "--no-layers")
    assert rc == 1 and "fits tiny: NO (peak SRAM over by" in out
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model")
    rc, _, err = _cost_cli(capsys, public_db_path, str(bad))
    assert rc == 2 and err.startswith(f"atomnet: error: {bad}: not a TFLite model")
    with pytest.raises(SystemExit) as e:  # an unknown runtime is a usage error
        main(["cost", str(PERSON), "--runtime", "nope"])
    assert e.value.code == 2
    capsys.readouterr()


def test_cli_cost_plot_of_a_file(public_db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "pd.png"
    rc, out, _ = _cost_cli(capsys, public_db_path, str(PERSON), "--plot", str(png), "--no-layers")
    assert rc == 0 and png.stat().st_size > 10_000 and f"plot written to {png}" in out


# ---- analyze ---------------------------------------------------------------------------------------------------
def test_analyze_a_file(lm: LatencyModel) -> None:
    a = analyze_file(read_tflite(PERSON), BOARD, lm)
    assert [s.label for s in a.stages] == ["S1", "S2", "S3", "S4", "S5", "head"]
    assert [s.layers for s in a.stages] == [3, 4, 4, 12, 4, 4] and a.stages[0].out_shape == (16, 48, 48)
    assert sum(s.latency_share for s in a.stages) == pytest.approx(1)
    assert sum(s.flash_share for s in a.stages) == pytest.approx(1)
    assert a.binding == {"flash": "S5", "latency": "S4", "sram": "S1"} and a.latency_is_lower_bound
    assert a.top_layers["sram"][0][:2] == ("2.CONV_2D", "pointwise 8x48x48->16x48x48")


def test_cli_analyze_with_a_file(public_db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    rc = main(["--db", str(public_db_path), "analyze", "--model", str(PERSON), "--no-patterns", "--no-progress",
               "--out", str(out)])
    capsys.readouterr()
    md = (out / "report.md").read_text()
    assert rc == 0 and "### tflm_person_detect.tflite" in md and "1 not priced: a lower bound" in md
    assert (out / "model_tflm_person_detect.tflite_stages.png").stat().st_size > 5_000
