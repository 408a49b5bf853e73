"""Shared fixtures: the ``../shared`` folder beside the repository and a session-wide imported AtomDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from atomnet.db import AtomDB

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
ATOMDB_DIR = SHARED / "atomdb" / "stm32h743"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: tests read the public data from ../shared beside the repository")
    return SHARED


@pytest.fixture(scope="session")
def public_db_path(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Path:
    """An AtomDB file with the current public atomdb.csv + atomdb_se.csv imported for stm32h743."""
    path = tmp_path_factory.mktemp("atomdb") / "public.sqlite"
    with AtomDB(path) as db:
        db.import_atomnet_csv(shared_dir / "atomdb/stm32h743/atomdb.csv", board="stm32h743")
        db.import_atomnet_se_csv(shared_dir / "atomdb/stm32h743/atomdb_se.csv", board="stm32h743")
    return path


@pytest.fixture()
def public_db(public_db_path: Path) -> Iterator[AtomDB]:
    db = AtomDB(public_db_path)
    yield db
    db.close()


@pytest.fixture(scope="session")
def zoo_int8_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """int8 exports of the 9 zoo models with published TinyEngine peaks and of test_export's stress spec
    (SE with h-swish, a channel multiplier, 7×7 kernels): ~15-25 s each on 2 shared cores; made once a session."""
    pytest.importorskip("torch", reason="the ML stack is not installed: pip install -r requirements-ml.txt")
    pytest.importorskip("onnx2tf", reason="the converter is not installed: pip install -r requirements-ml.txt")
    import numpy as np

    from atomnet.export import export_int8
    from atomnet.zoo import get_zoo
    from test_export import stress_spec
    from test_sram import TINYENGINE_PEAKS

    out = tmp_path_factory.mktemp("zoo-exports")
    specs = {**{n: get_zoo(n) for n in TINYENGINE_PEAKS}, "stress": stress_spec()}
    paths = {}
    for name, spec in specs.items():
        calib = np.random.default_rng(0).uniform(-1, 1, size=(8, spec.in_channels, *spec.resolution))
        paths[name] = export_int8(spec, calib.astype(np.float32), out / f"{name}.tflite", seed=0).path
    return paths
