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
