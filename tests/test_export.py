"""int8 export with the real converter, loaded and run in the real TFLite Micro interpreter; our tflm SRAM
planner held to the interpreter's arena byte for byte (from the file and from the spec: head and persistent tail)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the ML stack is not installed: pip install -r requirements-ml.txt")
pytest.importorskip("onnx2tf", reason="the converter is not installed: pip install -r requirements-ml.txt")
pytest.importorskip("tflite_micro", reason="tflite-micro is not installed: pip install -r requirements-ml.txt")

from atomnet.cost import cost_model  # noqa: E402
from atomnet.export import TFLMModel, export_int8, read_tflite, verify  # noqa: E402
from atomnet.nn import build_model, demo_spec  # noqa: E402
from atomnet.spec import BlockSpec, HeadSpec, ModelSpec, StageSpec, spec_macs  # noqa: E402
from atomnet.zoo import get_zoo  # noqa: E402


def stress_spec() -> ModelSpec:
    """Stride-1 stem, MBConv with SE on the expanded tensor and residuals, kernels 3/5/7, SEP with channel
    multiplier 2 and SE, a feature-mix head: the arena peak is inside the blocks, not at the stem."""
    return ModelSpec("stress", (24, 24), 7, (
        StageSpec((BlockSpec("conv", 8, stride=1, act="relu6"),)),
        StageSpec((BlockSpec("mbconv", 8, stride=1, kernel=5, expand_ratio=6, se=True, act="hswish"),
                   BlockSpec("mbconv", 16, stride=2, kernel=7, expand_ratio=4, se=True, act="relu"),
                   BlockSpec("mbconv", 16, stride=1, kernel=3, expand_ratio=1, act="relu6"))),
        StageSpec((BlockSpec("sep", 24, stride=2, kernel=5, expand_ratio=2, se=True, act="hswish"),
                   BlockSpec("convnext", 24, stride=1, kernel=7, expand_ratio=6, se=True, act="relu"))),
    ), HeadSpec(feature_mix=64, feature_mix_act="relu6"))


SPECS = {"demo": demo_spec, "stress": stress_spec, "atomnet-256kb": lambda: get_zoo("atomnet-256kb"),
         "mcunet-in2": lambda: get_zoo("mcunet-in2")}
#: (TFLM non-persistent arena, operators) measured with tflite-micro and onnx2tf 1.29.16, random weights seed 0
EXPECTED = {"demo": (8192, 53), "stress": (59952, 44), "atomnet-256kb": (332800, 122), "mcunet-in2": (332800, 67)}
#: the persistent tail: (the interpreter's, a 64-bit host build; 32-bit Cortex-M, derived by the same rules)
TAIL = {"demo": (21840, 18060), "stress": (15280, 11980), "atomnet-256kb": (81424, 73260),
        "mcunet-in2": (86032, 80540)}


def _calib(spec: ModelSpec, n: int = 8) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, size=(n, spec.in_channels, *spec.resolution)).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("export")
    paths = {}
    for name, make in SPECS.items():
        spec = make()
        paths[name] = export_int8(spec, _calib(spec), out / f"{name}.tflite", seed=0).path
    return paths


@pytest.mark.parametrize("name", list(SPECS))
def test_export_is_full_int8_and_matches_the_spec(exported: dict[str, Path], name: str) -> None:
    spec = SPECS[name]()
    m = read_tflite(exported[name])
    assert m.float_ops() == []
    assert [m.tensors[i].dtype for i in (*m.inputs, *m.outputs)] == ["INT8", "INT8"]
    assert m.tensors[m.inputs[0]].shape == (1, *spec.resolution, spec.in_channels)
    counts = m.op_counts()
    assert "PAD" not in counts and "TRANSPOSE" not in counts and "RESHAPE" not in counts
    assert set(counts) <= {"CONV_2D", "DEPTHWISE_CONV_2D", "HARD_SWISH", "MEAN", "MUL", "ADD", "FULLY_CONNECTED"}
    assert m.macs == spec_macs(spec)
    for op in m.ops:
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w, b = m.tensors[op.inputs[1]], m.tensors[op.inputs[2]]
            c_out = w.shape[3] if op.name == "DEPTHWISE_CONV_2D" else w.shape[0]
            assert (w.dtype, w.scales, b.dtype) == ("INT8", c_out, "INT32")  # per-channel weights, int32 bias
            if op.name == "CONV_2D":
                assert w.shape[3] == m.tensors[op.inputs[0]].shape[3]  # no grouped conv posing as depthwise


@pytest.mark.parametrize("name", list(SPECS))
def test_tflm_arena_equals_our_planner_byte_for_byte(exported: dict[str, Path], name: str) -> None:
    spec = SPECS[name]()
    r = verify(exported[name], spec)
    assert r.loaded, r.error
    assert (r.tflm_head_bytes, len(read_tflite(exported[name]).ops)) == EXPECTED[name]
    assert r.file_plan_bytes == r.tflm_head_bytes
    assert r.spec_plan_bytes == r.tflm_head_bytes
    assert r.macs == r.spec_macs and r.weight_bytes == r.spec_weight_bytes
    assert r.tflm_total_bytes is not None and r.tflm_head_bytes is not None
    assert r.tflm_total_bytes > r.tflm_head_bytes
    assert r.ok, r.problems
    # the spec's cost: head + the tail of the file the exporter writes, the interpreter's byte for byte
    rep = cost_model(spec, "stm32h743", runtime="tflm")
    assert rep.sram_breakdown["persistent"] == r.tflm_tail_bytes == r.file_tail_bytes
    assert rep.sram_breakdown["activations"] == r.tflm_head_bytes
    assert rep.peak_sram_bytes == r.tflm_total_bytes == r.tflm_head_bytes + r.tflm_tail_bytes
    assert rep.persistent_32bit_derived_bytes == r.file_tail_bytes_32
    assert (r.tflm_tail_bytes, r.file_tail_bytes_32) == TAIL[name]


def test_int8_outputs_follow_the_float_model(exported: dict[str, Path]) -> None:
    """The demo net, random weights: TFLM's dequantized int8 logits track torch's float logits."""
    spec = demo_spec()
    model = build_model(spec, seed=0).eval()
    x = np.random.default_rng(5).uniform(-1, 1, size=(16, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    out = TFLMModel(exported["demo"]).run(x)
    assert out.shape == ref.shape == (16, 10)
    assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.98
    assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.75


def test_top1_on_labelled_images(exported: dict[str, Path]) -> None:
    x = np.random.default_rng(6).uniform(-1, 1, size=(6, 3, 32, 32)).astype(np.float32)
    pred = TFLMModel(exported["demo"]).run(x).argmax(1)
    r = verify(exported["demo"], demo_spec(), images=x, labels=pred)
    assert (r.int8_top1, r.samples) == (1.0, 6)


def test_bad_calibration_data_is_rejected_before_converting(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"calib_data: expected an array of N×3×32×32"):
        export_int8(demo_spec(), np.zeros((4, 3, 28, 28), np.float32), tmp_path / "x.tflite")
    with pytest.raises(ValueError, match="calib_data: contains NaN"):
        export_int8(demo_spec(), np.full((2, 3, 32, 32), np.nan, np.float32), tmp_path / "x.tflite")


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz").is_file(),
                    reason="Debian package dataset-fashion-mnist is not installed")
def test_trained_run_exports_and_keeps_its_accuracy(tmp_path: Path) -> None:
    """A short fashion-mnist run → int8 calibrated on its training images → TFLM top-1 near float top-1."""
    import onnx

    from atomnet.export import compare_top1, export_run
    from atomnet.train import TrainConfig, train

    cfg = TrainConfig(epochs=2, batch_size=128, limit_train=4096, limit_val=256, lr=0.2, warmup_epochs=0.2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convs: one thread is as fast, and immune to a busy second core
    try:
        train(demo_spec(), "fashion-mnist", cfg, tmp_path / "run", progress=False, log=lambda s: None)
    finally:
        torch.set_num_threads(threads)
    r = export_run(tmp_path / "run", tmp_path / "run.tflite", calib=64)
    assert r.model.float_ops() == []  # type: ignore[union-attr]
    top = compare_top1(tmp_path / "run", tmp_path / "run.tflite", n=200)
    assert top.samples == 200 and top.float_top1 > 0.5
    assert abs(top.drop_points) <= 3.0
    path = export_run(tmp_path / "run", tmp_path / "run.onnx", fmt="onnx")
    onnx.checker.check_model(onnx.load(str(path)))
