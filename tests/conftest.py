"""Shared fixtures: the ``../shared`` folder beside the repository and a session-wide imported AtomDB."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
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


def _export_one(spec: ModelSpec, out: str) -> str:
    """One int8 export (random weights, seed 0; 8 uniform calibration images), in a worker process."""
    import numpy as np

    from atomnet.export import export_int8

    calib = np.random.default_rng(0).uniform(-1, 1, size=(8, spec.in_channels, *spec.resolution))
    return str(export_int8(spec, calib.astype(np.float32), out, seed=0).path)


class LazyExports(Mapping[str, Path]):
    """name -> int8 ``.tflite``, kept for the session. The first access starts the exports in 2 worker processes
    (the one asked for first, then the rest in order; an export is about one core's work, onnx2tf in its own process),
    so the exports overlap each other and the tests that already have theirs; indexing waits for that one."""

    WORKERS = 2

    def __init__(self, folder: Path, specs: Mapping[str, ModelSpec | Callable[[], ModelSpec]]) -> None:
        self._folder, self._specs = folder, dict(specs)
        self._futures: dict[str, Future[str]] = {}
        self._pool: ProcessPoolExecutor | None = None

    def _submit(self, name: str) -> None:
        assert self._pool is not None
        made = self._specs[name]
        spec = made if isinstance(made, ModelSpec) else made()
        self._futures[name] = self._pool.submit(_export_one, spec, str(self._folder / f"{name}.tflite"))

    def __getitem__(self, name: str) -> Path:
        if name not in self._specs:
            raise KeyError(name)  # an unknown name, as a dict
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.WORKERS, mp_context=multiprocessing.get_context("spawn"))
            for n in (name, *[m for m in self._specs if m != name]):
                self._submit(n)
        return Path(self._futures[name].result())

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _need_export_stack() -> None:
    pytest.importorskip("torch", reason="the ML stack is not installed: pip install -r requirements-ml.txt")
    pytest.importorskip("onnx2tf", reason="the converter is not installed: pip install -r requirements-ml.txt")


@pytest.fixture(scope="session")
def zoo_int8_exports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LazyExports]:
    """int8 exports (random weights, seed 0) of all 18 zoo models (``atomnet.zoo.list_zoo()``) and of test_export's
    stress spec (SE with h-swish, a channel multiplier, 7x7 kernels): ~15-25 s each on 2 shared cores, made once a
    session in the background from the first use on (:class:`LazyExports`). Tests that want the 9 models with
    published TinyEngine peaks index ``TINYENGINE_PEAKS`` (tests/test_sram.py)."""
    _need_export_stack()
    from atomnet.zoo import get_zoo, list_zoo
    from test_export import stress_spec

    specs: dict[str, ModelSpec | Callable[[], ModelSpec]] = {n: partial(get_zoo, n) for n in list_zoo()}
    specs["stress"] = stress_spec
    exports = LazyExports(tmp_path_factory.mktemp("zoo-exports"), specs)
    yield exports
    exports.close()


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
def hybrid_int8_exports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LazyExports]:
    """int8 exports of :func:`hybrid_specs` (10 random hybrid-space architectures at 48x48), made from the first
    use on."""
    _need_export_stack()
    exports = LazyExports(tmp_path_factory.mktemp("hybrid-exports"), dict(hybrid_specs()))
    yield exports
    exports.close()
