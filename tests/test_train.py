"""atomnet.train on real data: fashion-mnist from the Debian package, image folders made here, checkpoints
loaded with weights_only=True, exact resume, and 2-process torchrun (gloo) matching one process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the ML stack is not installed: pip install -r requirements-ml.txt")

from atomnet.nn import demo_spec  # noqa: E402
from atomnet.spec import BlockSpec, ModelSpec, StageSpec  # noqa: E402
from atomnet.train import (  # noqa: E402
    FASHION_DIR,
    DataError,
    TrainConfig,
    load_checkpoint,
    load_data,
    load_fashion_mnist,
    load_run,
    lr_at,
    train,
)

needs_fashion = pytest.mark.skipif(not (FASHION_DIR / "train-labels-idx1-ubyte.gz").is_file(),
                                   reason="Debian package dataset-fashion-mnist is not installed")
QUICK: dict[str, Any] = {"epochs": 1, "batch_size": 64, "limit_train": 256, "limit_val": 128, "warmup_epochs": 0.0,
                         "lr": 0.02}


@needs_fashion
def test_fashion_mnist_from_the_debian_package() -> None:
    xtr, ytr, xte, yte = load_fashion_mnist()
    assert (xtr.shape, xte.shape, ytr.max(), np.bincount(yte).tolist()) == ((60000, 28, 28), (10000, 28, 28), 9,
                                                                            [1000] * 10)
    info, tr, va = load_data("fashion-mnist", (32, 32))
    assert (info.num_classes, info.train_size, info.val_size) == (10, 60000, 10000)
    x, y = tr.__getitems__([(0, 11), (1, 12)])  # type: ignore[union-attr]
    assert x.shape == (2, 3, 32, 32) and x.min() >= -1 and x.max() <= 1 and y.tolist() == ytr[:2].tolist()
    assert torch.equal(tr[(0, 11)][0], x[0])  # one sample = its row of the batch (same seed, same crop)
    xv, _ = va.__getitems__([0])  # type: ignore[union-attr]
    assert torch.equal(xv[0, 0], xv[0, 2])  # grey repeated to 3 channels


def test_missing_package_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)


def _image_folder(root: Path, per_class: dict[str, int], val: int = 2) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", None), ("val", val)):
        for k, (c, m) in enumerate(per_class.items()):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n if n is not None else m):
                base = np.zeros((20 + i, 24, 3), np.uint8)
                base[..., k % 3] = 200  # class = dominant colour
                Image.fromarray((base + rng.integers(0, 40, base.shape)).astype(np.uint8)).save(d / f"{i}.png")
    return root


def test_image_folder_dataset_and_training(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "colors", {"blue": 8, "red": 8})
    info, tr, va = load_data(str(root), (16, 16))
    assert (info.classes, info.train_size, info.val_size) == (("blue", "red"), 16, 4)
    x, y = tr[(3, 99)]
    assert x.shape == (3, 16, 16) and y == 0
    assert va[0][0].shape == (3, 16, 16)
    spec = ModelSpec("tiny", (16, 16), 2, (StageSpec((BlockSpec("conv", 8, stride=2, act="relu"),)),
                                           StageSpec((BlockSpec("sep", 8, act="relu"),))))
    r = train(spec, str(root), TrainConfig(epochs=2, batch_size=8, lr=0.05), tmp_path / "run", progress=False,
              log=lambda s: None)
    assert [h.epoch for h in r.history] == [1, 2]
    assert 0.0 <= r.history[-1].val_top1 <= 1.0


def test_dataset_folders_without_images_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "d" / "train" / "cat").mkdir(parents=True)
    (tmp_path / "d" / "val" / "cat").mkdir(parents=True)
    (tmp_path / "d" / "train" / "cat" / "notes.txt").write_text("no image")
    with pytest.raises(DataError, match=r"train: no images \(looked for .*\.jpg.* in 1 class folders\)"):
        load_data(str(tmp_path / "d"), (16, 16))
    with pytest.raises(DataError, match="no such dataset; expected 'fashion-mnist' or a folder"):
        load_data(str(tmp_path / "nothing"), (16, 16))
    (tmp_path / "e" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match=r"train: no class folders"):
        load_data(str(tmp_path / "e"), (16, 16))


def test_schedule_and_config_validation() -> None:
    assert [round(lr_at(s, 10, 2, 1.0), 4) for s in (0, 1, 2, 6, 9)] == [0.5, 1.0, 1.0, 0.5, 0.0381]
    with pytest.raises(ValueError, match="epochs: expected a positive integer"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match=r"unknown training option\(s\) \['lr_max'\]"):
        TrainConfig.from_dict({"lr_max": 1})


@pytest.fixture()
def one_thread() -> object:
    """Bit-exact comparisons need one reduction order: one intra-op thread, restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@needs_fashion
def test_checkpoints_load_with_weights_only_and_resume_exactly(tmp_path: Path, one_thread: object) -> None:
    cfg = TrainConfig(**{**QUICK, "epochs": 2})
    full = train(demo_spec(), "fashion-mnist", cfg, tmp_path / "full", progress=False, log=lambda s: None)
    train(demo_spec(), "fashion-mnist", cfg, tmp_path / "cut", progress=False, log=lambda s: None, stop_after=1)
    assert load_checkpoint(tmp_path / "cut")["epoch"] == 1
    resumed = train(demo_spec(), "fashion-mnist", cfg, tmp_path / "cut", resume=True, progress=False,
                    log=lambda s: None)
    a, b = load_checkpoint(tmp_path / "full")["model"], load_checkpoint(tmp_path / "cut")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h.val_top1 for h in resumed.history] == [h.val_top1 for h in full.history]
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["checkpoint.pt", "config.json", "metrics.jsonl",
                                                                   "spec.json"]
    run = load_run(tmp_path / "full")
    assert run.spec == demo_spec() and run.epoch == 2 and run.config["data"]["name"] == "fashion-mnist"
    with pytest.raises(ValueError, match="--resume with a different configuration"):
        train(demo_spec(), "fashion-mnist", TrainConfig(**{**QUICK, "epochs": 3}), tmp_path / "cut", resume=True,
              progress=False, log=lambda s: None)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"bad[/\\]checkpoint\.pt: cannot load this checkpoint"):
        load_checkpoint(tmp_path / "bad")


@needs_fashion
def test_two_process_torchrun_matches_one_process(tmp_path: Path) -> None:
    """2 CPU processes (gloo, DDP, batch norm synchronized): same losses and weights as one process, up to
    floating-point reduction order."""
    worker = tmp_path / "worker.py"
    worker.write_text("import json, sys\nfrom atomnet.nn import demo_spec\n"
                      "from atomnet.train import TrainConfig, train\n"
                      "train(demo_spec(), 'fashion-mnist', TrainConfig(**json.loads(sys.argv[2])), sys.argv[1], "
                      "progress=False)\n")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        str(worker), str(tmp_path / "multi"), json.dumps(QUICK)], capture_output=True, text=True,
                       timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    one = train(demo_spec(), "fashion-mnist", TrainConfig(**QUICK), tmp_path / "single", progress=False,
                log=lambda s: None)
    two = load_checkpoint(tmp_path / "multi")
    assert json.loads((tmp_path / "multi" / "config.json").read_text())["processes"] == 2
    h1, h2 = one.history[0], two["history"][0]
    assert h2["train_loss"] == pytest.approx(h1.train_loss, rel=1e-5)
    assert h2["val_top1"] == h1.val_top1
    a, b = load_checkpoint(tmp_path / "single")["model"], two["model"]
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), rtol=1e-3, atol=1e-3), k


def _thousand_class_spec(path: Path) -> Path:
    """A tiny 1000-class net (what a search or the zoo hands a new user), as a spec file."""
    spec = ModelSpec("tiny-1000", (16, 16), 1000, (StageSpec((BlockSpec("conv", 8, stride=2, act="relu"),)),
                                                   StageSpec((BlockSpec("sep", 8, act="relu"),))))
    path.write_text(json.dumps(spec.to_dict()))
    return path


def _atomnet(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atomnet", *argv], capture_output=True, text=True, timeout=600,
                          check=False, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


@needs_fashion
def test_train_num_classes_auto_adapts_the_head_and_saves_it(tmp_path: Path) -> None:
    spec_file = _thousand_class_spec(tmp_path / "tiny-1000.json")
    quick = ["--epochs", "1", "--batch-size", "64", "--limit-train", "256", "--limit-val", "128", "--lr", "0.02",
             "--warmup", "0", "--no-progress"]
    r = _atomnet("train", str(spec_file), "--data", "fashion-mnist", *quick, "--out", str(tmp_path / "no"))
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "atomnet: error: tiny-1000 has 1000 classes, fashion-mnist has 10: pass --num-classes auto to size the "
        "classifier head to the data set, or set the spec's num_classes"]
    assert not (tmp_path / "no").exists()
    r = _atomnet("train", str(spec_file), "--data", "fashion-mnist", *quick, "--num-classes", "5",
                 "--out", str(tmp_path / "no"))
    assert (r.returncode, r.stderr.strip()) == (2, "atomnet: error: --num-classes 5: fashion-mnist has 10 classes; "
                                                   "use --num-classes 10 or auto")
    run = tmp_path / "run"
    r = _atomnet("train", str(spec_file), "--data", "fashion-mnist", *quick, "--num-classes", "auto",
                 "--out", str(run))
    assert r.returncode == 0, r.stderr
    assert (f"atomnet: classifier adapted from 1000 to 10 classes (fashion-mnist); the spec's Flash/latency "
            f"change: re-cost with 'atomnet cost {run}/spec.json'") in r.stderr.splitlines()
    saved = json.loads((run / "spec.json").read_text())
    assert saved["num_classes"] == 10 and saved["name"] == "tiny-1000"
    assert saved["provenance"]["num_classes_adapted"] == {"from": 1000, "to": 10, "data": "fashion-mnist"}
    loaded = load_run(run)
    assert loaded.spec.num_classes == 10 and loaded.build_model()(torch.zeros(1, 3, 16, 16)).shape == (1, 10)
    # the saved spec is what export / verify / cost see: its classifier is 8×10 + 10, not 8×1000 + 1000
    from atomnet.spec import spec_params

    assert spec_params(loaded.spec) == spec_params(ModelSpec.from_dict({**saved, "num_classes": 1000})) - 990 * 9
    # --num-classes 10 says the same; on a spec that already matches nothing is adapted and nothing is said
    lib = train(ModelSpec.from_dict(saved), "fashion-mnist", TrainConfig(**QUICK), tmp_path / "same",
                progress=False, log=lambda s: None, num_classes=10, warn=pytest.fail)
    assert lib.spec == loaded.spec
