"""Shared setup for benchmarks: a temporary AtomDB with the public data (../shared/atomdb/stm32h743)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from atomnet.db import AtomDB

SHARED = Path(__file__).resolve().parents[2] / "shared"


def public_db() -> AtomDB:
    path = Path(tempfile.mkdtemp(prefix="atomnet-bench-")) / "public.sqlite"
    db = AtomDB(path)
    db.import_atomnet_csv(SHARED / "atomdb/stm32h743/atomdb.csv", board="stm32h743")
    db.import_atomnet_se_csv(SHARED / "atomdb/stm32h743/atomdb_se.csv", board="stm32h743")
    return db
