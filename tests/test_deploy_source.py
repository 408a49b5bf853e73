"""``atomnet deploy SOURCE`` with a zoo name, a spec file or a training run folder: exported to OUT/model.tflite
by the real int8 exporter (torch → ONNX → onnx2tf), generated, built with the host compiler and compared with the
real TFLite Micro interpreter. Errors in SOURCE are one-line user errors (exit status 2), checked before exporting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from atomnet.cli import main

_FASHION = Path("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz")


def _deploy(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["deploy", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _need_export_stack() -> None:
    pytest.importorskip("tflite_micro")
    pytest.importorskip("torch", reason="the ML stack is not installed: pip install -r requirements-ml.txt")
    pytest.importorskip("onnx2tf", reason="the converter is not installed: pip install -r requirements-ml.txt")


def _tflm(path: Path, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    ip = runtime.Interpreter.from_file(str(path))
    ip.set_input(x, 0)
    ip.invoke()
    return np.asarray(ip.get_output(0)).ravel()


def _more_inputs_bit_exact(out: Path, n: int, seed: int) -> int:
    """Rebuild the generated code in ``out`` and count the inputs (of ``n`` seeded random ones) on which it equals
    TFLite Micro on ``out/model.tflite``."""
    from atomnet.deploy import build_host, generate, run_host

    d = generate(out / "model.tflite", out_dir=out / "again")
    exe = build_host(d)
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, size=d.input_shape, dtype=np.int8) for _ in range(n)]
    return sum(np.array_equal(run_host(exe, x), _tflm(out / "model.tflite", x)) for x in xs)


@pytest.mark.slow  # ~60 s on 2 shared cores (the export)
def test_zoo_name_is_exported_with_random_weights_and_bit_exact(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    _need_export_stack()
    from atomnet.export import int8_problems, read_tflite
    from atomnet.spec import spec_macs
    from atomnet.zoo import get_zoo

    out = tmp_path / "vww0"
    rc, text, _ = _deploy(capsys, "mcunet-vww0", "--out", str(out), "--check")
    assert rc == 0, text
    assert "source: zoo mcunet-vww0: random weights, seed 0; calibrated on 8 random inputs" in text
    assert "arena 60,800 B (planner peak 60,800 B)" in text  # the tinyengine planner's peak of mcunet-vww0
    assert "max |diff| vs TFLite Micro: 0 (bit-exact)" in text
    m = read_tflite(out / "model.tflite")
    assert int8_problems(m) == [] and m.macs == spec_macs(get_zoo("mcunet-vww0"))
    assert "random weights, seed 0" in (out / "README.md").read_text()
    assert (out / "model.c").is_file() and (out / "model.h").is_file()


@pytest.mark.slow  # ~60 s on 2 shared cores (the export)
def test_yaml_spec_file_of_a_hybrid_architecture_is_bit_exact(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A random hybrid-space architecture (48x48, the lowest resolution of the space) written as a YAML spec."""
    _need_export_stack()
    yaml = pytest.importorskip("yaml")
    from atomnet.export import read_tflite
    from atomnet.spec import spec_macs
    from conftest import hybrid_specs

    spec = hybrid_specs(seed=5, n=1)["hybrid-0"]
    path = tmp_path / "arch.yaml"
    path.write_text(yaml.safe_dump(spec.to_dict()))
    out = tmp_path / "out"
    rc, text, _ = _deploy(capsys, str(path), "--out", str(out), "--check", "--seed", "3", "--calib", "4")
    assert rc == 0, text
    assert f"source: spec {spec.name}: random weights, seed 3; calibrated on 4 random inputs" in text
    assert "(bit-exact)" in text
    assert read_tflite(out / "model.tflite").macs == spec_macs(spec)
    assert _more_inputs_bit_exact(out, 3, seed=1) == 3


@pytest.mark.skipif(not _FASHION.is_file(), reason="Debian package dataset-fashion-mnist is not installed")
def test_trained_demo_run_is_exported_with_its_weights_and_bit_exact(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The demo net (atomnet.nn.demo_spec) trained a few steps on fashion-mnist, deployed from its run folder."""
    _need_export_stack()
    import torch

    from atomnet.nn import demo_spec
    from atomnet.train import Run, TrainConfig, train

    cfg = TrainConfig(epochs=1, batch_size=128, limit_train=512, limit_val=128, lr=0.2, warmup_epochs=0.2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(demo_spec(), "fashion-mnist", cfg, tmp_path / "run", progress=False, log=lambda s: None)
    finally:
        torch.set_num_threads(threads)
    out = tmp_path / "out"
    rc, text, _ = _deploy(capsys, str(tmp_path / "run"), "--out", str(out), "--check", "--calib", "16")
    assert rc == 0, text
    epoch = Run.load(tmp_path / "run").epoch
    assert (f"source: run demo-hybrid-r32: trained weights of {tmp_path / 'run'} (epoch {epoch}); calibrated on "
            "16 training images of fashion-mnist") in text
    assert "(bit-exact)" in text
    assert "trained weights" in (out / "README.md").read_text()
    assert _more_inputs_bit_exact(out, 2, seed=2) == 2


def test_bad_sources_are_user_errors_before_any_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "out")
    rc, _, err = _deploy(capsys, "mcunet-vw0", "--out", out)
    assert rc == 2 and "SOURCE 'mcunet-vw0'" in err and "did you mean mcunet-vww0" in err
    assert "Traceback" not in err
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.json").write_text(json.dumps({"name": "x"}))
    rc, _, err = _deploy(capsys, str(run), "--out", out)
    assert rc == 2 and f"{run}: training run folder without weights (no checkpoint.pt)" in err
    rc, _, err = _deploy(capsys, str(tmp_path), "--out", out)
    assert rc == 2 and "not a training run folder (no spec.json)" in err
    from atomnet.zoo import get_zoo

    doc: Any = get_zoo("mcunet-vww0").to_dict()
    doc["stages"][1]["blocks"][0]["kernel"] = 4
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    rc, _, err = _deploy(capsys, str(bad), "--out", out)
    assert rc == 2 and f"{bad}: stages[1].blocks[0]" in err and "kernel" in err
    rc, _, err = _deploy(capsys, str(tmp_path / "missing.json"), "--out", out)
    assert rc == 2 and "missing.json: no such file" in err
    rc, _, err = _deploy(capsys, "demo", "--out", out, "--calib", "0")
    assert rc == 2 and "--calib: expected a positive number" in err
    assert not (tmp_path / "out").exists()  # nothing was exported or written
