"""The ML commands end to end with the real stack: ``atomnet train`` (one process and 2-process torchrun via
``-m atomnet``), ``atomnet export`` (quantization-aware fine-tuning, then the real converter) and
``atomnet verify`` (the real TFLite Micro interpreter); user errors exit 2 with a message, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="the ML stack is not installed: pip install -r requirements-ml.txt")
pytest.importorskip("onnx2tf", reason="the converter is not installed: pip install -r requirements-ml.txt")
pytest.importorskip("tflite_micro", reason="tflite-micro is not installed: pip install -r requirements-ml.txt")

from atomnet.cli import main  # noqa: E402
from atomnet.nn import build_model, demo_spec  # noqa: E402
from atomnet.train import FASHION_DIR  # noqa: E402

pytestmark = pytest.mark.skipif(not (FASHION_DIR / "train-labels-idx1-ubyte.gz").is_file(),
                                reason="Debian package dataset-fashion-mnist is not installed")
TINY = ["--epochs", "1", "--batch-size", "64", "--limit-train", "256", "--limit-val", "128", "--lr", "0.02",
        "--warmup", "0"]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    threads = torch.get_num_threads()
    try:
        rc = main(list(argv))
    finally:
        torch.set_num_threads(threads)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    threads = torch.get_num_threads()
    try:
        assert main(["train", "demo", "--data", "fashion-mnist", *TINY, "--out", str(out), "--no-progress"]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def model_file(run_dir: Path) -> Path:
    """The tiny run exported with a quarter epoch of QAT (one onnx2tf conversion for the whole module)."""
    path = run_dir.parent / "demo.tflite"
    assert main(["export", str(run_dir), "--int8", "--calib", "16", "--qat-epochs", "0.25", "--out", str(path),
                 "--json"]) == 0
    return path


def test_train_writes_a_run_and_reports(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.pt", "config.json", "metrics.jsonl", "spec.json"]
    cfg = json.loads((run_dir / "config.json").read_text())
    assert (cfg["spec"], cfg["data"]["name"], cfg["train"]["limit_train"]) == ("demo-hybrid-r32", "fashion-mnist", 256)
    # --resume of a finished run trains nothing more and reports the saved history
    rc, out, _ = _cli(capsys, "train", "demo", "--data", "fashion-mnist", *TINY, "--out", str(run_dir), "--resume",
                      "--json")
    r = json.loads(out)
    assert rc == 0 and r["run"] == str(run_dir) and [h["epoch"] for h in r["history"]] == [1]
    assert 0 <= r["final_top1"] <= 1 and r["best_top1"] == r["final_top1"]


def test_export_with_qat_is_full_int8_and_verifies(model_file: Path, run_dir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    rc, out, err = _cli(capsys, "verify", str(model_file), "--run", str(run_dir), "--samples", "64", "--json")
    v = json.loads(out)
    assert rc == 0, err
    assert v["ok"] and v["loaded"] and v["problems"] == [] and v["int8_problems"] == []
    assert v["tflm_head_bytes"] == v["file_plan_bytes"] == v["spec_plan_bytes"] == 8192
    assert v["tflm_total_bytes"] > v["tflm_head_bytes"]
    assert v["macs"] == v["spec_macs"] == 867648 and v["weight_bytes"] == v["spec_weight_bytes"]
    assert v["samples"] == 64 and v["float_top1"] is not None and v["int8_top1"] is not None
    assert v["spec_name"] == "demo-hybrid-r32" and v["data"] == "fashion-mnist" and v["ops"] == 53
    # the same file against a spec and a dataset given by hand, as text
    rc, out, _ = _cli(capsys, "verify", str(model_file), "--spec", "demo", "--data", "fashion-mnist", "--samples",
                      "16")
    assert rc == 0 and "loads in TFLite Micro" in out and "OK: every check passed" in out
    assert "top-1 on 16 fashion-mnist validation images: int8 (TFLM)" in out


def test_verify_fails_when_the_estimate_is_off(model_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _cli(capsys, "verify", str(model_file), "--spec", "mcunet-in0")
    assert rc == 1
    assert "FAILED" in out and "tflm planner on the spec" in out and "MACs: file 867648" in out


def test_qat_context_trains_and_leaves_a_plain_float_model() -> None:
    from atomnet.export._qat import fake_quantized

    model = build_model(demo_spec(), seed=0).eval()
    x = torch.randn(8, 3, 32, 32)
    keys = list(model.state_dict())
    with torch.no_grad():
        ref = model(x)
    with fake_quantized(model) as fqs:
        model.train()
        with torch.no_grad():
            model(x)  # sets the activation ranges
        model.eval()
        with torch.no_grad():
            q = model(x)
        assert len(fqs) > 20 and all(bool(f.seen) for f in fqs)
        model.train()
        model(x).sum().backward()  # straight-through gradients reach the float weights
        stem = next(m for m in model.get_submodule("stages.0.0.layers.conv").children()
                    if isinstance(m, torch.nn.Conv2d))
        assert stem.weight.grad is not None and float(stem.weight.grad.abs().sum()) > 0
    assert not torch.equal(q, ref) and torch.allclose(q, ref, atol=0.1 * float(ref.abs().max()) + 1e-3)
    assert list(model.state_dict()) == keys and "forward" not in vars(model.get_submodule("stages.0.0.layers.conv"))
    with torch.no_grad():
        assert torch.equal(model.eval()(x), ref)


def test_onnx_format(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _cli(capsys, "export", str(run_dir), "--format", "onnx", "--out", str(tmp_path / "m.onnx"), "--json")
    assert rc == 0 and json.loads(out)["format"] == "onnx" and (tmp_path / "m.onnx").stat().st_size > 100_000
    rc, _, err = _cli(capsys, "export", str(run_dir), "--int8", "--format", "onnx")
    assert rc == 2 and "--int8 and --format onnx" in err


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    rc, _, err = _cli(capsys, *argv)
    assert rc == 2 and "atomnet: error: " in err and "Traceback" not in err, err
    return err


def test_user_errors_exit_2_naming_the_file_or_field(model_file: Path, run_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    data = model_file.read_bytes()
    (tmp_path / "cut.tflite").write_bytes(data[: len(data) // 3])
    assert "cut.tflite: " in _error(capsys, "verify", str(tmp_path / "cut.tflite"))
    (tmp_path / "junk.tflite").write_bytes(b"\x00" * 64)
    assert "junk.tflite: not a TFLite model" in _error(capsys, "verify", str(tmp_path / "junk.tflite"))
    assert "none.tflite: cannot read the file" in _error(capsys, "verify", str(tmp_path / "none.tflite"))

    d: dict[str, Any] = json.loads(json.dumps(demo_spec().to_dict()))  # a plain JSON document to edit
    d["stages"][1]["blocks"][0]["type"] = "transformer"
    (tmp_path / "bad.json").write_text(json.dumps(d))
    for argv in (("train", str(tmp_path / "bad.json"), "--data", "fashion-mnist"),
                 ("verify", str(model_file), "--spec", str(tmp_path / "bad.json"))):
        err = _error(capsys, *argv)
        assert "bad.json: stages[1].blocks[0].type: unknown block type 'transformer'" in err

    for split in ("train/cat", "val/cat"):
        (tmp_path / "imgs" / split).mkdir(parents=True)
    (tmp_path / "imgs" / "train" / "cat" / "readme.txt").write_text("no images here")
    err = _error(capsys, "train", "demo", "--data", str(tmp_path / "imgs"), "--epochs", "1")
    assert "imgs/train: no images" in err
    assert "no such dataset" in _error(capsys, "train", "demo", "--data", str(tmp_path / "nowhere"))

    assert "not a training run folder" in _error(capsys, "export", str(tmp_path), "--int8")
    shutil.copytree(run_dir, tmp_path / "broken")
    (tmp_path / "broken" / "checkpoint.pt").write_bytes(b"truncated")
    assert "checkpoint.pt: cannot load this checkpoint" in _error(capsys, "export", str(tmp_path / "broken"))
    assert "epochs: expected a positive integer" in _error(capsys, "train", "demo", "--data", "fashion-mnist",
                                                           "--epochs", "0")


def test_torchrun_two_processes_via_python_m_atomnet(tmp_path: Path) -> None:
    """``torchrun --nproc-per-node 2 -m atomnet train …`` (tests/test_train.py checks the numbers of 2-process
    training; this checks the command line under torchrun: rank 0 reports, the run records 2 processes)."""
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        "-m", "atomnet", "train", "demo", "--data", "fashion-mnist", "--epochs", "1", "--batch-size",
                        "64", "--limit-train", "128", "--limit-val", "64", "--out", str(tmp_path / "ddp"), "--json"],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)  # only rank 0 prints
    assert [h["epoch"] for h in res["history"]] == [1]
    assert json.loads((tmp_path / "ddp" / "config.json").read_text())["processes"] == 2
