"""Shared fixtures: the ``../shared`` folder beside the repository and a session-wide imported AtomDB."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path

import pytest

from atomnet.db import AtomDB
from atomnet.spec import ModelSpec

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


class LazyExports(Mapping[str, Path]):
    """name -> int8 ``.tflite``, exported on first access and kept for the session (iterating over the items
    exports them all; indexing exports only the one asked for)."""

    def __init__(self, folder: Path, specs: Mapping[str, ModelSpec | Callable[[], ModelSpec]]) -> None:
        self._folder, self._specs = folder, dict(specs)
        self._paths: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self._paths:
            import numpy as np

            from atomnet.export import export_int8
            made = self._specs[name]  # KeyError for an unknown name, as a dict
            spec = made if isinstance(made, ModelSpec) else made()
            calib = np.random.default_rng(0).uniform(-1, 1, size=(8, spec.in_channels, *spec.resolution))
            self._paths[name] = export_int8(spec, calib.astype(np.float32), self._folder / f"{name}.tflite",
                                            seed=0).path
        return self._paths[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def _need_export_stack() -> None:
    pytest.importorskip("torch", reason="the ML stack is not installed: pip install -r requirements-ml.txt")
    pytest.importorskip("onnx2tf", reason="the converter is not installed: pip install -r requirements-ml.txt")


@pytest.fixture(scope="session")
def zoo_int8_exports(tmp_path_factory: pytest.TempPathFactory) -> LazyExports:
    """int8 exports (random weights, seed 0) of all 18 zoo models (``atomnet.zoo.list_zoo()``) and of test_export's
    stress spec (SE with h-swish, a channel multiplier, 7x7 kernels): ~15-25 s each on 2 shared cores, each made on
    first use, once a session. Tests that want the 9 models with published TinyEngine peaks index
    ``TINYENGINE_PEAKS`` (tests/test_sram.py)."""
    _need_export_stack()
    from atomnet.zoo import get_zoo, list_zoo
    from test_export import stress_spec

    specs: dict[str, ModelSpec | Callable[[], ModelSpec]] = {n: partial(get_zoo, n) for n in list_zoo()}
    specs["stress"] = stress_spec
    return LazyExports(tmp_path_factory.mktemp("zoo-exports"), specs)


#: the random hybrid-space architectures of ``hybrid_int8_exports``: seed, count (lowest resolution of the space)
HYBRID_SEED, HYBRID_COUNT = 17, 10


def hybrid_specs(seed: int = HYBRID_SEED, n: int = HYBRID_COUNT) -> dict[str, ModelSpec]:
    """``n`` uniform random architectures of the ``hybrid`` search space at its lowest resolution, as specs."""
    import numpy as np

    from atomnet.search import get_space
    from atomnet.spec import from_stage_config

    space = get_space("hybrid")
    r = space.resolutions.index(min(space.resolutions))
    _, choices = space.sample(np.random.default_rng(seed), n)
    return {f"hybrid-{i}": from_stage_config(space.stage_config(r, [int(c) for c in row], name=f"hybrid-{i}"))
            for i, row in enumerate(choices)}


@pytest.fixture(scope="session")
def hybrid_int8_exports(tmp_path_factory: pytest.TempPathFactory) -> LazyExports:
    """int8 exports of :func:`hybrid_specs` (10 random hybrid-space architectures at 48x48), made on first use."""
    _need_export_stack()
    return LazyExports(tmp_path_factory.mktemp("hybrid-exports"), dict(hybrid_specs()))
